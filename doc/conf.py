"""Sphinx configuration of skhpo's documentation."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
import skhpo  # noqa: E402

project = "skhpo"
author = "skhpo developers"
copyright = "2026, skhpo developers"
release = skhpo.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]

# Links to other projects' docs need their inventories from the network; this
# machine has none, so they are opt-in: SKHPO_DOC_INTERSPHINX=1 make doc.
intersphinx_mapping = {}
if os.environ.get("SKHPO_DOC_INTERSPHINX"):
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable/", None),
        "scipy": ("https://docs.scipy.org/doc/scipy/", None),
        "sklearn": ("https://scikit-learn.org/stable/", None),
        "dask": ("https://docs.dask.org/en/stable/", None),
        "distributed": ("https://distributed.dask.org/en/stable/", None),
    }
# Docstrings inherited from scikit-learn use its glossary (:term:`fit`), which is
# only known with scikit-learn's own docs.
suppress_warnings = ["ref.term"]

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "matplotlib_animations": False,
}

html_theme = "pydata_sphinx_theme"
html_static_path = ["_static"]
html_title = "skhpo"

"""Drop-in replacements for the hot paths of today's face pipelines.

``facefuse.compat.facefusion``: FaceFusion 3.x names and semantics, plus
``patch()`` / ``unpatch()``; ``facefuse.compat.seed``: the seed pipeline's names.
"""

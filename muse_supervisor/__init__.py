"""muse_supervisor: the semantic supervisory layer above a robot's control loops.

The package holds both the rosidl-generated interfaces (``muse_supervisor.msg``, ``.srv``,
``.action``) and the hand-written code. When the hand-written sources are imported from a source
checkout while the generated modules are installed elsewhere on ``sys.path``, ``extend_path`` makes
both halves one package.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

__version__ = '0.1.0'

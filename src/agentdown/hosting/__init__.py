"""Azure Functions hosting: ``from agentdown.hosting import create_function_app``.

Needs the ``functions`` extra (``pip install 'agentdown[functions]'``, the ``azure-functions``
package); storage-backed sessions and triggers also need the ``azure`` extra.
"""

from agentdown.hosting.app import create_function_app

__all__ = ["create_function_app"]

"""ms-swift plugin: load models with ``trust_remote_code=False`` in ms-swift's own loader.

Earlier swiftkit versions passed this file with ``--external_plugins``; their checkpoints name it in args.json, and
ms-swift imports it again when it loads such an adapter, so it stays at this path (the remote-code guard allows
it). It covered ms-swift's loader only; the guard in ``swiftkit/inside_swift/guard`` now enforces the rule for
every loading path.
"""

from swift.model.register import ModelLoader

ModelLoader.default_trust_remote_code = False

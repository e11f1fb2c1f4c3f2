"""ms-swift plugin: load models without running Python code shipped in the model folder.

ms-swift 4.x loads configs, tokenizers and models with ``trust_remote_code=True`` unless a model's loader says
otherwise, and has no flag to turn that off. swiftkit passes this file with ``--external_plugins`` unless the
profile sets ``model.trust_remote_code: true``; ms-swift imports it before any model is loaded.
"""

from swift.model.register import ModelLoader

ModelLoader.default_trust_remote_code = False

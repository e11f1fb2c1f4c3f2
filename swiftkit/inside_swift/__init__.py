"""Code that runs inside ms-swift's processes, never imported by swiftkit itself: the remote-code guard
(``guard/sitecustomize.py``, first on every child's PYTHONPATH) and the plugins swiftkit passes with
--external_plugins (``serve.py``). ``swiftkit/plugins/no_remote_code.py`` stays where older checkpoints name it."""

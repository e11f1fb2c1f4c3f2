"""Files shipped inside the package: schemas (profiles, prompts, templates and the remote-code guard follow)."""

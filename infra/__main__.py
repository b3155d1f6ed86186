from infra.cli import entrypoint

entrypoint()

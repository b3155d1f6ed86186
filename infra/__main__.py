from infra.launch import entrypoint

entrypoint()

"""The networks: the Moebius UNet, the VAE, the DDIM sampler, and reading their checkpoints.

Plain ``torch.nn`` with the released checkpoints' key names; :mod:`core.model.checkpoint` is the one place
where weight files are opened for loading.
"""

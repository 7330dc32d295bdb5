# The Hearth image: every process (web, worker, migrate) runs from it; the command picks which.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Installed as a regular package; the source tree is not kept in the image.
COPY . /src
RUN pip install /src && rm -rf /src

RUN groupadd --gid 10001 hearth && useradd --uid 10001 --gid hearth --create-home hearth
# Numeric, so that orchestrators enforcing "run as non-root" can verify it.
USER 10001:10001
WORKDIR /home/hearth
# The dev mailbox (SMS without SMS_API_URL, mail without SMTP_URL) is written here.
ENV HEARTH_DATA=/home/hearth/var

EXPOSE 8000
CMD ["hearth", "serve", "events"]

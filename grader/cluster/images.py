"""`kdlab image save` / `kdlab image load`: images to grading hosts without a registry.

Contract: `save(tags, out)` writes the images as one `docker save` archive (layers
that images share, the runtime under grader and lab, are stored once), gzip-
compressed when `out` ends in .gz or .tgz; `load(file)` gives such a file (either
form) to this host's Docker engine and returns the tags it loaded. Both stream
(an image is gigabytes: nothing is held in memory) and report progress in bytes.
Image IDs survive the trip, which is what the grading hosts' image check compares
(grader.cluster.task.ImageIdentity).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from grader.batch import sandbox
from grader.errors import KdlabError
from grader.progress import Reporter, Silent

#: Bytes per read and write.
CHUNK = 1 << 20
#: gzip level: fast (images are mostly compressed already: little gained above this).
GZIP_LEVEL = 3
#: Seconds the Docker engine may take to answer one read of a save or a load.
DOCKER_TIMEOUT_S = 600


class ImageTransferError(KdlabError):
    """An image could not be saved or loaded (not here, not an image archive, disk full)."""


def _compressed(path: Path) -> bool:
    return path.suffix in (".gz", ".tgz")


def _docker() -> Any:
    import docker

    sandbox.client()  # the plain "Docker is not reachable" message, if it is not
    return docker.from_env(timeout=DOCKER_TIMEOUT_S)


def save(tags: list[str], out: Path, reporter: Reporter | None = None) -> int:
    """Write images `tags` to `out` (see the module docstring); returns the bytes written."""
    import docker

    reporter = reporter or Silent()
    docker_client = _docker()
    total = 0
    for tag in tags:
        try:
            total += int(docker_client.images.get(tag).attrs["Size"])
        except docker.errors.ImageNotFound as err:
            raise ImageTransferError(f"no image {tag} here to save (`kdlab image build`)") \
                from err
    api = docker_client.api
    # GET /images/get?names=...: one archive for all, shared layers once (the SDK's
    # get_image takes a single image).
    response = api.get(f"{api.base_url}/v{api.api_version}/images/get",
                       params={"names": tags}, stream=True, timeout=DOCKER_TIMEOUT_S)
    if response.status_code != 200:
        raise ImageTransferError(f"the Docker engine could not save {', '.join(tags)}: "
                                 f"{response.text[:300]}")
    reporter.begin(f"saving {', '.join(tags)} to {out}", total=max(1, total >> 20))
    partial = out.with_name(f".{out.name}.partial")
    done = 0
    try:
        with _writer(partial, gzipped=_compressed(out)) as sink:
            for chunk in response.iter_content(CHUNK):
                sink.write(chunk)
                done += len(chunk)
                reporter.advance(done >> 20, f"{done >> 20} MiB of about {total >> 20} MiB")
        partial.replace(out)
    except OSError as err:
        raise ImageTransferError(f"cannot write {out}: {err}") from err
    finally:
        response.close()
        partial.unlink(missing_ok=True)
    written = out.stat().st_size
    reporter.end(f"{written / 1e9:.2f} GB written")
    return written


def _writer(path: Path, gzipped: bool) -> io.BufferedIOBase:
    if gzipped:
        return gzip.open(path, "wb", compresslevel=GZIP_LEVEL)
    return path.open("wb")


def _chunks(stream: io.BufferedReader, size: int, reporter: Reporter) -> Iterator[bytes]:
    """The archive's bytes, decompressed if it is gzip, with progress by bytes read."""
    gzipped = stream.peek(2)[:2] == b"\x1f\x8b"
    source: io.BufferedIOBase = gzip.GzipFile(fileobj=stream) if gzipped else stream
    while chunk := source.read(CHUNK):
        read = stream.tell() >> 20
        reporter.advance(read, f"{read} of {size >> 20} MiB read")
        yield chunk


def load(path: Path, reporter: Reporter | None = None) -> list[str]:
    """Load an archive made by save() (or `docker save`) into this host's engine; the tags."""
    import docker

    reporter = reporter or Silent()
    if not path.is_file():
        raise ImageTransferError(f"{path} is not a file (made by `kdlab image save`)")
    docker_client = _docker()
    size = path.stat().st_size
    reporter.begin(f"loading {path}", total=max(1, size >> 20))
    loaded: list[str] = []
    try:
        with path.open("rb") as stream:
            for event in docker_client.api.load_image(_chunks(stream, size, reporter)):
                if "error" in event:
                    raise ImageTransferError(f"{path} is not an image archive the Docker "
                                             f"engine takes ({event['error']})")
                text = str(event.get("stream", "")).strip()
                if text.startswith("Loaded image"):
                    loaded.append(text.partition(": ")[2])
    except (docker.errors.DockerException, OSError, EOFError, gzip.BadGzipFile) as err:
        raise ImageTransferError(f"{path} is not an image archive the Docker engine takes "
                                 f"({err})") from err
    reporter.end(f"loaded {', '.join(loaded) or 'nothing'}")
    return loaded

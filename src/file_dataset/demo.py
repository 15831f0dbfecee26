"""`file-dataset demo`: the whole workflow on an embedded S3 server, no AWS account needed.

Examples:
    $ file-dataset demo
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import statistics
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
from botocore.credentials import ReadOnlyCredentials

from file_dataset.accessor import FilesAccessor
from file_dataset.dataset import FileDataset

__all__ = ["embedded_s3", "normalize_signal", "run_demo", "summarize"]

BUCKET = "demo-bucket"


@contextlib.contextmanager
def embedded_s3() -> Iterator[str]:
    """Run moto's S3 server on a free loopback port; yield its endpoint URL.

    Needs the ``demo`` extra (``pip install 'file-dataset[demo]'``).

    Examples:
        >>> with embedded_s3() as endpoint:  # doctest: +SKIP
        ...     ds = FileDataset(endpoint_url=endpoint)
    """
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as err:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "the embedded S3 server needs moto: pip install 'file-dataset[demo]'"
        ) from err
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request lines
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def normalize_signal(input_dir: Path, output_dir: Path) -> dict[str, Path]:
    r"""The demo's processing step: a plain function of two directories, no S3 in sight.

    Reads ``signal.csv`` (one number a line), writes the z-scored signal and its statistics.

    Examples:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> _ = (d / "signal.csv").write_text("1\n2\n3\n")
        >>> sorted(normalize_signal(d, d))
        ['normalized.csv', 'stats.json']
    """
    values = [float(v) for v in (input_dir / "signal.csv").read_text().split()]
    mean, stdev = statistics.fmean(values), statistics.pstdev(values) or 1.0
    normalized = output_dir / "normalized.csv"
    normalized.write_text("".join(f"{(v - mean) / stdev:.4f}\n" for v in values))
    stats = output_dir / "stats.json"
    stats.write_text(json.dumps({"n": len(values), "mean": mean, "stdev": stdev}))
    return {"normalized.csv": normalized, "stats.json": stats}


def _seed_bucket(ds: FileDataset, count: int) -> list[str]:
    ds.client.create_bucket(Bucket=BUCKET)
    uris = []
    for i in range(count):
        body = "".join(f"{(i + 1) * (j % 7) + j / 10:.2f}\n" for j in range(50))
        key = f"raw/patient-{i:03d}/signal.csv"
        ds.client.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
        uris.append(f"s3://{BUCKET}/{key}")
    return uris


def run_demo(echo: Callable[[str], None] = print, *, rows: int = 24) -> int:
    """Run the demo; return the process exit code.

    Examples:
        >>> run_demo(echo=lambda line: None, rows=3)  # doctest: +SKIP
        0
    """
    with embedded_s3() as endpoint, tempfile.TemporaryDirectory() as scratch:
        echo(f"Started an embedded S3 server at {endpoint}")
        ds = FileDataset(
            credentials=ReadOnlyCredentials("demo-access-key", "demo-secret-key", None),
            endpoint_url=endpoint,
            region_name="us-east-1",
        )
        uris = _seed_bucket(ds, rows)
        echo(f"Created s3://{BUCKET} with {len(uris)} sample files, e.g. {uris[0]}")

        echo("\n# Usage 1: download into a temp dir, process locally")
        with ds.downloader({"signal.csv": uris[0]}).into_temp_dir() as tmp:
            echo(f"  {tmp} holds {sorted(p.name for p in tmp.iterdir())}")
            local_output = normalize_signal(input_dir=tmp, output_dir=tmp)
            echo(f"  fn returned {sorted(local_output)}")

            echo("\n# Usage 2: upload the outputs; an id is made for us")
            uploaded = ds.upload_files(local_output, into_path=f"s3://{BUCKET}/normalized/")
            for name, uri in uploaded.items():
                echo(f"  {name} -> {uri}")
            copied = ds.upload_files(local_output, into_path=Path(scratch) / "normalized")
            for name, path in copied.items():
                echo(f"  {name} -> {path} (local copy)")
        echo(f"  temp dir removed: {not tmp.exists()}")
        _demo_dataframe(ds, uris, echo)
        ds.close()
    echo("\nStopped the embedded S3 server. Done.")
    return 0


def _demo_dataframe(ds: FileDataset, uris: list[str], echo: Callable[[str], None]) -> None:
    """Seed usage 3 and the accessor: validate, map, chain a second map."""
    df = pd.DataFrame({"signal.csv": uris, "id": [f"patient-{i:03d}" for i in range(len(uris))]})
    echo(f"\n# A DataFrame of {len(df)} rows of s3:// files")
    echo(_indent(df.head(3).to_string()))

    FilesAccessor(df).validate(exists=True, dataset=ds)
    echo("\n# df.files.validate(exists=True): every URI well-formed, every object there")

    normalized = FilesAccessor(df).map(
        normalize_signal, f"s3://{BUCKET}/normalized/", dataset=ds, progress=False
    )
    echo("\n# df.files.map(normalize_signal, 's3://demo-bucket/normalized/')")
    echo(_indent(normalized.head(3).to_string()))

    summary = FilesAccessor(normalized).map(
        summarize, f"s3://{BUCKET}/summaries/", columns=["stats.json"], dataset=ds, progress=False
    )
    echo("\n# .files.map(summarize, ...): the second step chains on the first's outputs")
    echo(_indent(summary.head(3).to_string()))
    with FilesAccessor(summary).download_row(summary.index[0], dataset=ds) as tmp:
        echo(f"\n# download_row(0): {(tmp / 'summary.txt').read_text().strip()}")

    same = ds.map_batch(
        df.head(3),
        fn=normalize_signal,
        upload_options={"into_path": f"s3://{BUCKET}/batch/"},
        progress=False,
    )
    echo(f"\n# Seed usage 3, ds.map_batch(...): {len(same)} rows, columns {list(same.columns)}")


def summarize(input_dir: Path, output_dir: Path) -> dict[str, Path]:
    r"""The demo's second step: one line of text from ``stats.json``.

    Examples:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> _ = (d / "stats.json").write_text('{"n": 3, "mean": 2.0, "stdev": 1.0}')
        >>> (summarize(d, d)["summary.txt"]).read_text()
        'n=3 mean=2.000 stdev=1.000\n'
    """
    stats = json.loads((input_dir / "stats.json").read_text())
    out = output_dir / "summary.txt"
    out.write_text(f"n={stats['n']} mean={stats['mean']:.3f} stdev={stats['stdev']:.3f}\n")
    return {"summary.txt": out}


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())

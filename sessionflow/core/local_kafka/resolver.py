"""Resolve Apache Kafka's server jars and their runtime dependencies with Maven.

The jars land in ``<cache_dir>/kafka-<version>/libs``; a marker file records a complete
resolution, so a second call costs nothing and an interrupted one is redone. Nothing is
written or removed outside ``<cache_dir>/kafka-<version>``: the version must be a Maven
version and the resolved directory must sit directly in the cache dir.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from sessionflow.core.errors import ConfigurationError, InfrastructureError
from sessionflow.core.local_kafka.settings import MAVEN_VERSION

LOG4J_VERSION = "2.25.5"
SLF4J_VERSION = "2.0.17"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>sessionflow.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId>
      <version>{slf4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""


def require_tool(name: str, hint: str) -> str:
    """Return the path of executable ``name`` or raise a one-line error with ``hint``."""
    path = shutil.which(name)
    if path is None:
        raise InfrastructureError(f"`{name}` not found on PATH: {hint}")
    return path


def kafka_home(cache_dir: Path, version: str) -> Path:
    """``<cache_dir>/kafka-<version>``, resolved; :class:`ConfigurationError` if it would escape.

    The version must be a Maven version and the directory a direct child of the cache dir
    (after resolving symlinks), so no setting can make the resolver write or delete elsewhere.
    """
    if not MAVEN_VERSION.fullmatch(version):
        raise ConfigurationError(
            f"SESSIONFLOW_KAFKA_VERSION: must be a Maven version such as 4.4.0 (got {version!r})"
        )
    cache = cache_dir.resolve()
    home = (cache / f"kafka-{version}").resolve()
    if home.parent != cache:
        raise ConfigurationError(f"SESSIONFLOW_CACHE_DIR: {home} is not inside {cache}")
    return home


def kafka_libs(cache_dir: Path, version: str) -> Path:
    """Resolve (once) and return the directory holding every jar the broker needs."""
    home = kafka_home(cache_dir, version)
    libs = home / "libs"
    marker = home / ".resolved"
    if marker.exists() and any(libs.glob("kafka_2.13-*.jar")):
        return libs
    mvn = require_tool("mvn", "install Apache Maven (apt-get install maven) to fetch Kafka")
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_text(
        _POM.format(version=version, slf4j=SLF4J_VERSION, log4j=LOG4J_VERSION)
    )
    if libs.exists():
        shutil.rmtree(libs)
    command = [
        mvn, "-q", "-B", "-f", str(home / "pom.xml"),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={libs}", "-DincludeScope=runtime",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise InfrastructureError(
            f"Maven could not resolve org.apache.kafka:kafka_2.13:{version}: " + " | ".join(tail)
        )
    marker.write_text(version)
    return libs

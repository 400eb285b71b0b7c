"""Validate an ETSI TS 119 102-2 XML validation report against its XSD, never over the network.

The schema set (tests/data/xsd/README.md says where each file comes from):
- the TS 119 102-2 v1.2.1 schema itself, ``tests/data/xsd/1910202xmlSchema.xsd``;
- XML-DSig and XAdES 1.3.2 / 1.4.1: the copies signxml (a dependency) installs;
- TS 119 612 (trusted lists), used only by ``vr:SignatureValidator``: the ETSI file if it is in
  tests/data/xsd, else ``ts_119612_types.xsd`` there, which leaves those two types open.
Every ``xs:import`` is pointed at the local file for its namespace before lxml compiles the
schema, so the ``schemaLocation`` URLs in the ETSI files are never fetched; an imported namespace
with no local file gets an empty schema, so a schema that really uses it fails to compile.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest
import signxml
from lxml import etree

__all__ = ["SCHEMA_FILE", "assert_valid_etsi_report", "etsi_schema", "schema_problems"]

XSD_DIR = Path(__file__).resolve().parent / "data" / "xsd"
SCHEMA_FILE = XSD_DIR / "1910202xmlSchema.xsd"
_XS = "http://www.w3.org/2001/XMLSchema"
_VR = "http://uri.etsi.org/19102/v1.2.1#"
_SIGNXML = Path(signxml.__file__).resolve().parent
_TSL = XSD_DIR / "19612_xsd.xsd"


def _local_schemas() -> dict[str, Path]:
    return {
        "http://www.w3.org/2000/09/xmldsig#": _SIGNXML / "schemas" / "xmldsig-core-schema.xsd",
        "http://uri.etsi.org/01903/v1.3.2#":
            _SIGNXML / "xades" / "schemas" / "XAdES01903v132-201601.xsd",
        "http://uri.etsi.org/01903/v1.4.1#":
            _SIGNXML / "xades" / "schemas" / "XAdES01903v141-201601.xsd",
        "http://uri.etsi.org/02231/v2#": _TSL if _TSL.exists() else XSD_DIR / "ts_119612_types.xsd",
    }


class _LocalOnly(etree.Resolver):
    """Serves our rewritten copies; refuses every other URL (no file, no network)."""

    def __init__(self, documents: dict[str, bytes]):
        super().__init__()
        self.documents = documents

    def resolve(self, url, pubid, context):
        if url in self.documents:
            return self.resolve_string(self.documents[url], context, base_url=url)
        raise OSError(f"schema import outside the local set refused: {url}")


def _parser(resolver: etree.Resolver | None = None) -> etree.XMLParser:
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    if resolver is not None:
        parser.resolvers.add(resolver)
    return parser


def _rewritten(path: Path, local: dict[str, Path], documents: dict[str, bytes]) -> str:
    """Load ``path``, point each of its imports at the local file for the namespace (recursively),
    and register the result under a ``local:`` URL; returns that URL."""
    url = f"local:{path.name}"
    if url in documents:
        return url
    documents[url] = b""  # cycles: XAdES 1.4.1 <-> 1.3.2 both import XML-DSig
    tree = etree.parse(str(path), _parser())
    for imp in tree.getroot().iterfind(f"{{{_XS}}}import"):
        ns = imp.get("namespace")
        if ns in local:
            imp.set("schemaLocation", _rewritten(local[ns], local, documents))
        else:
            empty = f"local:empty/{ns}"
            documents[empty] = (f'<xs:schema xmlns:xs="{_XS}" targetNamespace="{ns}"/>').encode()
            imp.set("schemaLocation", empty)
    documents[url] = etree.tostring(tree)
    return url


@lru_cache(maxsize=1)
def etsi_schema() -> etree.XMLSchema:
    if not SCHEMA_FILE.exists():
        pytest.skip(f"{SCHEMA_FILE.relative_to(XSD_DIR.parents[2])} is not in the tree "
                    "(tests/data/xsd/README.md says where ETSI publishes it)")
    documents: dict[str, bytes] = {}
    root_url = _rewritten(SCHEMA_FILE, _local_schemas(), documents)
    parser = _parser(_LocalOnly(documents))
    return etree.XMLSchema(etree.fromstring(documents[root_url], parser, base_url=root_url))


def schema_problems(xml: bytes) -> list[str]:
    """What the schema finds wrong, plus every ``VOReference`` naming no validation object: an
    ``xs:IDREF`` must match an ``xs:ID`` (XML Schema Part 1 §3.3.4, "Validation Root Valid
    (ID/IDREF Table)"), which libxml2 does not check."""
    schema = etsi_schema()
    doc = etree.fromstring(xml, _parser())
    problems = [] if schema.validate(doc) else [
        f"line {e.line}: {e.message}" for e in schema.error_log]
    ids = {vo.get("id") for vo in doc.iter(f"{{{_VR}}}ValidationObject")}
    for node in doc.iter():
        for ref in (node.get("VOReference") or "").split():
            if ref not in ids:
                problems.append(f"line {node.sourceline}: VOReference {ref} names no "
                                "ValidationObject")
    return problems


def assert_valid_etsi_report(xml: bytes) -> None:
    """Raise AssertionError carrying lxml's error log unless ``xml`` is a valid report."""
    problems = schema_problems(xml)
    assert not problems, "not a valid ETSI TS 119 102-2 report:\n" + "\n".join(problems)

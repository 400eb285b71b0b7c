// Verifies the first ds:Signature of an XAdES file with xadesjs (xmldsigjs underneath), as an
// outside judge of RegCA's seals. Usage: node verify.cjs SIGNED.xml [DETACHED_CONTENT.xml]
// Prints one JSON line {"valid": bool, "error"?: str}; exit 0 only when valid.
"use strict";
const fs = require("fs");
const xmldom = require("@xmldom/xmldom");
const { Crypto } = require("@peculiar/webcrypto");
const xpath = require("xpath");
const xadesjs = require("xadesjs");

xadesjs.setNodeDependencies({
  XMLSerializer: xmldom.XMLSerializer,
  DOMParser: xmldom.DOMParser,
  DOMImplementation: xmldom.DOMImplementation,
  xpath,
});
xadesjs.Application.setEngine("NodeJS", new Crypto());

async function main(signedPath, contentPath) {
  const doc = xadesjs.Parse(fs.readFileSync(signedPath, "utf8"));
  const signatures = doc.getElementsByTagNameNS("http://www.w3.org/2000/09/xmldsig#", "Signature");
  const signed = new xadesjs.SignedXml(doc);
  signed.LoadXml(signatures[signatures.length - 1]);
  const options = {};
  if (contentPath) {
    options.content = xadesjs.Parse(fs.readFileSync(contentPath, "utf8"));
  }
  return signed.Verify(contentPath ? options : undefined);
}

main(process.argv[2], process.argv[3]).then(
  (valid) => { console.log(JSON.stringify({ valid })); process.exit(valid ? 0 : 1); },
  (err) => { console.log(JSON.stringify({ valid: false, error: String(err && err.stack || err) })); process.exit(2); });

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Validate every index, manifest and config reachable from an OCI layout's
index.json against the image-spec JSON schemas (Debian's
golang-github-opencontainers-image-spec-dev).  Prints one line per
document; exits 1 on the first invalid one.
usage: validate.py SCHEMA_DIR LAYOUT_DIR"""
import json, os, sys
import jsonschema

schema_dir, layout = sys.argv[1], sys.argv[2]
store = {}
for name in os.listdir(schema_dir):
    if name.endswith('.json'):
        with open(os.path.join(schema_dir, name)) as f:
            s = json.load(f)
        store['file://%s/%s' % (schema_dir, name)] = s
        # relative $refs resolve against the schemas' ids; never fetch them
        store['https://opencontainers.org/schema/image/' + name] = s
        store['https://opencontainers.org/schema/' + name] = s
        if 'id' in s:
            store[s['id']] = s

def validator(name):
    s = store['file://%s/%s' % (schema_dir, name)]
    # nested "id"s move the base URI around: map every remote $ref to the
    # local file of the same name instead of fetching it
    local = lambda uri: store['file://%s/%s' % (schema_dir, uri.rsplit('/', 1)[-1])]
    resolver = jsonschema.RefResolver('file://%s/%s' % (schema_dir, name), s, store=store,
                                      handlers={'https': local, 'http': local})
    return jsonschema.Draft4Validator(s, resolver=resolver)

V = {k: validator(f) for k, f in {
    'index': 'image-index-schema.json', 'manifest': 'image-manifest-schema.json',
    'config': 'config-schema.json', 'layout': 'image-layout-schema.json'}.items()}

def blob(d):
    with open(os.path.join(layout, 'blobs', 'sha256', d['digest'][7:])) as f:
        return json.load(f)

def check(kind, doc, what):
    V[kind].validate(doc)
    print('valid %s: %s' % (kind, what))

with open(os.path.join(layout, 'oci-layout')) as f:
    check('layout', json.load(f), 'oci-layout')
with open(os.path.join(layout, 'index.json')) as f:
    idx = json.load(f)
check('index', idx, 'index.json')
for d in idx['manifests']:
    m = blob(d)
    check('manifest', m, d['digest'])
    if m['config']['mediaType'] == 'application/vnd.oci.image.config.v1+json':
        check('config', blob(m['config']), m['config']['digest'])

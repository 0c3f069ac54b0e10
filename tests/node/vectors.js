'use strict';
/*
 * Signing vectors from the Node.js SDK itself: each case goes through HcClient.buildRequest (the
 * SDK's content-type rules, path parameters, BasicCredentials.processAuthRequest and AKSKSigner or
 * DerivedAKSKSigner) without being sent. Prints a JSON array; generate_vectors.py writes the YAML.
 *
 *     node tests/node/vectors.js
 */
const querystring = require('querystring');
const url = require('url');
const { BasicCredentials } = require('@huaweicloud/huaweicloud-sdk-core');
const { AKSKSigner } = require('@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner');
const { DdmClient } = require('./ddm');

const AK = 'HPUAXXXXXXXXXXXXXXX1';
const SK = 's3cr3tSKs3cr3tSKs3cr3tSKs3cr3tSKs3cr3tSK';
const REGION = 'cn-north-4';
const SERVICE = 'ddm';
const DATE = '20260314T150926Z';
const PROJECT = '0123456789abcdef0123456789abcdef';
const ENDPOINT = 'https://ddm.example.com:8443';
const USER_AGENT = 'huaweicloud-usdk-nodejs/3.0';  // added by the HTTP client after signing: not signed
const ALGORITHMS = ['SDK-HMAC-SHA256', 'V11-HMAC-SHA256'];
// The SDK's own predicate (V11 for any endpoint not on huaweicloud.com); passed unbound it throws.
const derivedPredicate = (request) => BasicCredentials.getDefaultDerivedPredicate(request);
const CASES = [
    { name: 'empty-body-unsigned', method: 'GET', url: '/v1/{project_id}/instances', contentType: 'text/plain',
      queryParams: { offset: 0, limit: 10 } },
    { name: 'ddm-list-instances', method: 'GET', url: '/v1/{project_id}/instances',
      contentType: 'application/json', queryParams: { limit: 10, offset: 0 } },
    { name: 'json-body-non-ascii', method: 'POST', url: '/v1/{project_id}/instances',
      contentType: 'application/json;charset=UTF-8', data: { instance: { name: 'ddm-node', vpc_id: 'vpc-华北-一号' } } },
    { name: 'text-body-unsigned', method: 'PUT', url: '/v1/{project_id}/instances/i-1/modify-name',
      contentType: 'text/plain', data: 'raw 文本 body' },
];

let canonical = '';
const buildCanonicalRequest = AKSKSigner.buildCanonicalRequest;
AKSKSigner.buildCanonicalRequest = function capture(...parts) {  // DerivedAKSKSigner inherits it
    canonical = buildCanonicalRequest.apply(this, parts);
    return canonical;
};

function client(algorithm) {
    const credential = new BasicCredentials().withAk(AK).withSk(SK).withProjectId(PROJECT);
    const builder = DdmClient.newBuilder().withCredential(credential).withEndpoint(ENDPOINT);
    if (algorithm === 'V11-HMAC-SHA256') {
        credential.withRegionId(REGION).withDerivedPredicate(derivedPredicate);
        builder.withDerivedAuthServiceName(SERVICE);
    }
    return builder.build().hcClient;
}

function wireBody(data) {
    if (data === undefined) {
        return Buffer.alloc(0);
    }
    return Buffer.from(typeof data === 'string' ? data : JSON.stringify(data), 'utf8');
}

async function vector(testCase, algorithm) {
    const { name, ...operation } = testCase;
    const before = { 'X-Sdk-Date': DATE };
    const options = { pathParams: {}, queryParams: {}, ...operation, headers: { ...before } };
    const request = await client(algorithm).buildRequest(options);
    const headers = { 'user-agent': USER_AGENT };
    const added = {};
    for (const [key, value] of Object.entries(request.headers)) {
        if (key in before || key === 'content-type') {
            headers[key.toLowerCase()] = value;
        } else {
            added[key] = value;
        }
    }
    return {
        name: `${name}-${algorithm.toLowerCase()}`, algorithm, region: REGION, service: SERVICE, randomized: false,
        sdk: 'nodejs', method: request.method, raw_path: url.parse(request.endpoint).pathname,
        raw_query: querystring.stringify(request.queryParams), headers,
        body_hex: wireBody(request.data).toString('hex'), access_key: AK, secret_key: SK,
        now: '2026-03-14T15:09:26+00:00', added, canonical_request: canonical,
    };
}

async function main() {
    const vectors = [];
    for (const testCase of CASES) {
        for (const algorithm of ALGORITHMS) {
            vectors.push(await vector(testCase, algorithm));
        }
    }
    process.stdout.write(JSON.stringify(vectors));
}

main().catch((error) => {
    process.stderr.write(`${error && error.stack || error}\n`);
    process.exit(1);
});

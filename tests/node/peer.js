'use strict';
/*
 * The official Node.js SDK as a client of ddm-gateway: runs every scenario in one process and
 * writes one JSON object (scenario -> outcome) for the pytest module to assert on.
 *
 *     node peer.js <settings.json> <results.json>
 *
 * settings: gateway (base URL), region, project_id, alice/bob ({ak, sk}), password_user
 * ({domain, name, password}), flavor_id, engine_id. The results go to a file because the SDK's
 * logger writes to stdout. An outcome is {ok, status, body | code, message, request_id, sent};
 * `sent` is what the SDK put on the wire (method, url, query, signed headers of interest).
 */
const crypto = require('crypto');
const fs = require('fs');
const url = require('url');
const { BasicCredentials, GlobalCredentials, Region } = require('@huaweicloud/huaweicloud-sdk-core');
const { AKSKSigner } = require('@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner');
const { DefaultHttpClient } = require('@huaweicloud/huaweicloud-sdk-core/http/DefaultHttpClient');
const iam = require('@huaweicloud/huaweicloud-sdk-iam/v3/public-api');
const { DdmClient } = require('./ddm');

const settings = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const NON_ASCII_VPC = 'vpc-华北-一号';
const TEXT_PLAIN = { contentType: 'text/plain' };
// The SDK's own predicate (V11 for any endpoint not on huaweicloud.com); passed unbound it throws.
const derivedPredicate = (request) => BasicCredentials.getDefaultDerivedPredicate(request);

function sha256(text) {
    return crypto.createHash('sha256').update(text, 'utf8').digest('hex');
}

function lastSent() {
    const params = DefaultHttpClient.httpReqParam || {};
    const headers = params.headers || {};
    const sent = { method: params.method, url: params.url, query: params.params || {} };
    sent.content_type = headers['content-type'];
    sent.content_sha256 = headers['X-Sdk-Content-Sha256'];
    sent.algorithm = (headers.Authorization || '').split(' ')[0];
    sent.signed_headers = ((headers.Authorization || '').match(/SignedHeaders=([^,]*)/) || [])[1];
    return sent;
}

async function attempt(call) {
    DefaultHttpClient.httpReqParam = undefined;  // so `sent` is never the previous request's
    try {
        const body = await call();
        return { ok: true, status: body.httpStatusCode, body, sent: lastSent() };
    } catch (error) {
        if (error.httpStatusCode === undefined) {
            return { ok: false, error: String(error && error.stack || error), sent: lastSent() };
        }
        return {
            ok: false, status: error.httpStatusCode, code: error.errorCode, message: error.errorMsg,
            request_id: error.requestId, sent: lastSent(),
        };
    }
}

function ddm(user, configure) {
    const credential = new BasicCredentials().withAk(user.ak).withSk(user.sk).withProjectId(settings.project_id);
    const builder = DdmClient.newBuilder().withCredential(credential).withEndpoint(settings.gateway);
    return (configure ? configure(builder, credential) : builder).build();
}

function v11(builder, credential) {
    credential.withRegionId(settings.region).withDerivedPredicate(derivedPredicate);
    return builder.withDerivedAuthServiceName('ddm');
}

function instanceBody(name) {
    return {
        instance: {
            name, flavor_id: settings.flavor_id, node_num: 2, engine_id: settings.engine_id,
            available_zones: ['az1'], vpc_id: NON_ASCII_VPC, security_group_id: 'sg-安全组', subnet_id: 'subnet-1',
        },
    };
}

async function createAndShow(client) {
    const created = [];
    for (const name of ['node-peer-1', 'node-peer-2', 'node-peer-3']) {
        created.push(await attempt(() => client.createInstance({ body: instanceBody(name) })));
    }
    const first = created[0].ok ? created[0].body.id : undefined;
    const shown = await attempt(() => client.showInstance({ instance_id: first }));
    return {
        created, shown, vpc_id: NON_ASCII_VPC,
        body_sha256: sha256(JSON.stringify(instanceBody('node-peer-1'))),
    };
}

async function listPages(client) {
    return {
        first: await attempt(() => client.listInstances({ offset: 0, limit: 2 })),
        second: await attempt(() => client.listInstances({ offset: 2, limit: 2 })),
    };
}

const UNUSED_KEY = { ak: 'UNUSEDAK000000000000', sk: 'unused' };  // unknown to the gateway

function iamClient(options) {
    const builder = iam.IamClient.newBuilder().withCredential(
        new GlobalCredentials().withAk(UNUSED_KEY.ak).withSk(UNUSED_KEY.sk)).withEndpoint(settings.gateway);
    return (options ? builder.withOptions(options) : builder).build();
}

function withToken(token) {
    return { axiosRequestConfig: { headers: { 'X-Auth-Token': token } } };
}

async function iamToken() {
    const client = iamClient();
    const who = settings.password_user;
    const user = new iam.PwdPasswordUser(new iam.PwdPasswordUserDomain(who.domain), who.name, who.password);
    const auth = new iam.PwdAuth(new iam.PwdIdentity(['password'], new iam.PwdPassword(user)),
        new iam.AuthScope().withProject(new iam.AuthScopeProject().withName(settings.region)));
    const issued = await attempt(() => client.keystoneCreateUserTokenByPassword(
        new iam.KeystoneCreateUserTokenByPasswordRequest().withNocatalog('true')
            .withBody(new iam.KeystoneCreateUserTokenByPasswordRequestBody(auth))));
    const token = issued.ok ? issued.body['X-Subject-Token'] : undefined;
    const listed = await attempt(() => ddm(UNUSED_KEY, (builder) => builder.withOptions(withToken(token)))
        .listInstances({}));
    return { issued: { ...issued, body: issued.ok ? { token: issued.body.token } : undefined }, token, listed };
}

async function temporaryCredentials(token) {
    const identity = new iam.TokenAuthIdentity(['token']).withToken(new iam.IdentityToken().withDurationSeconds(900));
    const granted = await attempt(() => iamClient(withToken(token)).createTemporaryAccessKeyByToken(
        new iam.CreateTemporaryAccessKeyByTokenRequest().withBody(
            new iam.CreateTemporaryAccessKeyByTokenRequestBody(new iam.TokenAuth(identity)))));
    const credential = granted.ok ? granted.body.credential : {};
    const client = DdmClient.newBuilder().withEndpoint(settings.gateway).withCredential(new BasicCredentials()
        .withAk(credential.access).withSk(credential.secret).withSecurityToken(credential.securitytoken)
        .withProjectId(settings.project_id)).build();
    const listed = await attempt(() => client.listInstances({}));
    const { ok, status, code } = granted;  // not the body: the secrets are returned once, below
    const { secret, securitytoken } = credential;
    return { granted: { ok, status, code }, secret, security_token: securitytoken, listed };
}

async function projectLookup() {
    const credential = new BasicCredentials().withAk(settings.alice.ak).withSk(settings.alice.sk)
        .withIamEndpoint(settings.gateway);
    const client = DdmClient.newBuilder().withCredential(credential)
        .withRegion(new Region(settings.region, settings.gateway)).build();
    const listed = await attempt(() => client.listInstances({}));
    return { listed, project_id: credential.projectId };
}

async function tamperBody(client) {
    const signed = instanceBody('node-signed');
    const sent = instanceBody('node-tampered');
    const outcome = await attempt(() => client.createInstance(
        { body: signed }, { axiosRequestConfig: { data: sent } }));
    return { ...outcome, signed_sha256: sha256(JSON.stringify(signed)), sent_sha256: sha256(JSON.stringify(sent)) };
}

async function main() {
    const alice = ddm(settings.alice);
    const results = {};
    results.create_non_ascii = await createAndShow(alice);
    results.list_paging = await listPages(alice);
    results.empty_body_get = await attempt(() => alice.listInstances({}, TEXT_PLAIN));
    results.v11_list = await attempt(() => ddm(settings.alice, v11).listInstances({ limit: 2 }));
    results.v11_empty_body_get = await attempt(() => ddm(settings.alice, v11).listInstances({}, TEXT_PLAIN));
    results.project_lookup = await projectLookup();
    results.iam_token = await iamToken();
    results.temporary_credentials = await temporaryCredentials(results.iam_token.token);
    results.denial = await attempt(() => ddm(settings.bob).createInstance({ body: instanceBody('node-denied') }));
    results.denial.sent_sha256 = sha256(JSON.stringify(instanceBody('node-denied')));
    results.tamper_body = await tamperBody(alice);
    results.tamper_query = await attempt(() => alice.listInstances(
        { offset: 0, limit: 2 }, { axiosRequestConfig: { params: { offset: 0, limit: 7 } } }));
    const third = results.create_non_ascii.created[2];
    results.delete = await attempt(() => alice.deleteInstance({ instance_id: third.ok ? third.body.id : '' }));
    results.path_space = await attempt(() => alice.showInstance({ instance_id: 'node peer' }));
    const spaced = url.parse(settings.gateway + results.path_space.sent.url).pathname;
    results.path_space.signed_uri = AKSKSigner.CanonicalURI(spaced);  // what the SDK signed
    fs.writeFileSync(process.argv[3], JSON.stringify(results, null, 1));
}

main().catch((error) => {
    process.stderr.write(`${error && error.stack || error}\n`);
    process.exit(1);
});

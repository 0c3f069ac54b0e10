'use strict';
/*
 * A DDM client written the way Huawei's generator writes every Node.js service client
 * (compare @huaweicloud/huaweicloud-sdk-iam's IamClient): there is no DDM package on npm, so
 * these few operations are spelled out here. Everything that matters for the gateway is the
 * SDK's own: ClientBuilder, HcClient.sendRequest, BasicCredentials, AKSKSigner and axios.
 *
 * `extra` is the test's only knob, merged into the generated options: `contentType` (what an
 * operation generated with a non-JSON content type sends) and `axiosRequestConfig` (HcClient
 * hands it to axios after signing, which is how the tests tamper with a signed request).
 */
const { ClientBuilder } = require('@huaweicloud/huaweicloud-sdk-core/ClientBuilder');

class DdmClient {
    static newBuilder() {
        return new ClientBuilder((hcClient) => new DdmClient(hcClient));
    }

    constructor(hcClient) {
        this.hcClient = hcClient;
    }

    getPath() {
        return __dirname;
    }

    listInstances(request, extra) {
        const queryParams = {};
        if (request.offset !== undefined) {
            queryParams.offset = request.offset;
        }
        if (request.limit !== undefined) {
            queryParams.limit = request.limit;
        }
        return this.send({ method: 'GET', url: '/v1/{project_id}/instances', queryParams }, extra);
    }

    createInstance(request, extra) {
        return this.send({
            method: 'POST', url: '/v1/{project_id}/instances', contentType: 'application/json;charset=UTF-8',
            data: request.body,
        }, extra);
    }

    showInstance(request, extra) {
        return this.send({
            method: 'GET', url: '/v1/{project_id}/instances/{instance_id}',
            pathParams: { instance_id: request.instance_id },
        }, extra);
    }

    deleteInstance(request, extra) {
        return this.send({
            method: 'DELETE', url: '/v1/{project_id}/instances/{instance_id}',
            pathParams: { instance_id: request.instance_id },
        }, extra);
    }

    send(operation, extra) {
        const options = {
            contentType: 'application/json', queryParams: {}, pathParams: {}, headers: {},
            ...operation, ...(extra || {}),
        };
        return this.hcClient.sendRequest(options);
    }
}

module.exports = { DdmClient };

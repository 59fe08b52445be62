// Calls every operation of a live service with the typescript-fetch client generated
// from openapi/openapi.yaml, and prints one JSON line per call for the test to read.
// Usage: node every_operation.js URL [TOKEN]
import { Configuration, ResponseError, SystemInformationApi } from "./client/src";

declare const process: { argv: string[]; exitCode?: number };

interface Call {
  call: string;
  status: number;
  build: string | null;
  version: string | null;
  body?: unknown;
}

async function main(): Promise<void> {
  const [url, token] = process.argv.slice(2);
  const api = new SystemInformationApi(
    new Configuration({ basePath: url, apiKey: token === undefined ? undefined : `Token ${token}` }),
  );
  const identity = (call: string, raw: Response, body?: unknown): Call => ({
    call,
    status: raw.status,
    build: raw.headers.get("X-Influxdb-Build"),
    version: raw.headers.get("X-Influxdb-Version"),
    body,
  });
  const calls: Array<[string, () => Promise<Call>]> = [
    ["GetPing", async () => identity("GetPing", (await api.getPingRaw({})).raw)],
    ["HeadPing", async () => identity("HeadPing", (await api.headPingRaw({})).raw)],
    [
      "GetReady",
      async () => {
        const answer = await api.getReadyRaw({});
        const ready = await answer.value();
        const started = ready.started?.toISOString();
        return identity("GetReady", answer.raw, { status: ready.status, started });
      },
    ],
    ["HeadReady", async () => identity("HeadReady", (await api.headReadyRaw({})).raw)],
    [
      "GetHealth",
      async () => {
        const answer = await api.getHealthRaw({});
        const health = await answer.value();
        return identity("GetHealth", answer.raw, { status: health.status, version: health.version });
      },
    ],
    ["HeadHealth", async () => identity("HeadHealth", (await api.headHealthRaw({})).raw)],
    [
      "GetMetrics",
      async () => {
        const answer = await api.getMetricsRaw({ name: ["influxdb_info"] });
        return identity("GetMetrics", answer.raw, await answer.value());
      },
    ],
    ["HeadMetrics", async () => identity("HeadMetrics", (await api.headMetricsRaw({})).raw)],
  ];
  for (const [name, call] of calls) {
    try {
      console.log(JSON.stringify(await call()));
    } catch (error) {
      // An error answer: its status, identity headers and InfluxDB error body (a HEAD
      // answer has none).
      if (!(error instanceof ResponseError)) throw error;
      const text = await error.response.text();
      const body: unknown = text === "" ? undefined : JSON.parse(text);
      console.log(JSON.stringify(identity(name, error.response, body)));
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

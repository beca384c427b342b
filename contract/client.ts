// What a front-end team writes against the generated types: log in, ask for an archive, read
// the request back. It must type-check unmodified under --strict (`npm run typescript-client`).
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/api";

type LoanRequest = components["schemas"]["RequestDto"];

const client = createClient<paths>({ baseUrl: "http://127.0.0.1:8080" });

export async function borrow(username: string, password: string, archiveId: string): Promise<LoanRequest> {
  const login = await client.POST("/api/v1/auth/login", { body: { username, password } });
  if (!login.data) {
    throw new Error(`login refused: ${login.error?.code}`);
  }
  const headers = { Authorization: `Bearer ${login.data.access_token}` };
  const created = await client.POST("/api/v1/loan-requests", {
    headers,
    body: { archive_ids: [archiveId], purpose: "年度审计 / annual audit", loan_type: "on_site", days: 3 },
  });
  if (!created.data) {
    throw new Error(`request refused: ${created.error?.code}`);
  }
  const read = await client.GET("/api/v1/loan-requests/{id}", {
    headers,
    params: { path: { id: created.data.id } },
  });
  if (!read.data) {
    throw new Error(`not readable: ${read.error?.code}`);
  }
  const number: string = read.data.number;
  const steps: number = read.data.steps.length;
  console.log(`${number}: ${steps} approval steps`);
  return read.data;
}

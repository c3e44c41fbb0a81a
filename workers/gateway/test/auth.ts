import { testToken } from "@foundation/service-kit/testing";

/** Signs a token the gateway accepts: HS256 with the test run's secret, 5 minutes, local issuer and audience. */
export const token = testToken;

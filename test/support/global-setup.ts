// Starts one throwaway PostgreSQL cluster for the whole test run, or uses the one PG_LLM_TEST_CLUSTER names
// (a JSON ClusterInfo, for a cluster set up like startCluster's), and hands its coordinates to the tests.

import type { TestProject } from 'vitest/node';
import { startCluster, type ClusterInfo } from './cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    cluster: ClusterInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  if (process.env.PG_LLM_TEST_CLUSTER) {
    project.provide('cluster', JSON.parse(process.env.PG_LLM_TEST_CLUSTER) as ClusterInfo);
    return () => {};
  }
  const cluster = await startCluster();
  const { stop, ...info } = cluster;
  project.provide('cluster', info);
  return stop;
}

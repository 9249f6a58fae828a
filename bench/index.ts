// `npm run bench -- NAME [options]`: one entry point for every bench, each a module with
// `main(args)` that prints its figures and returns the exit code.
export const BENCHES: Record<string, () => Promise<{ main(args: string[]): Promise<number> }>> = {
  ingest: () => import('./ingest.ts'),
  drain: () => import('./drain.ts'),
  e2e: () => import('./e2e.ts'),
};

const [name, ...args] = process.argv.slice(2);
const load = name === undefined ? undefined : BENCHES[name];
if (!load) {
  console.error(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [options]`);
  process.exit(2);
}
process.exit(await (await load()).main(args));

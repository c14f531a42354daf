// Validate custom resources (ServiceMonitor, PrometheusRule, Istio, KEDA, Argo CD, Karpenter)
// offline, against models generated from the projects' own CRDs (npm @kubernetes-models/*,
// installed by scripts/tools.sh into .tools/crd-models). Two checks per object:
//   1. the CRD's OpenAPI schema (types, enums, required fields, patterns), at run time;
//   2. no unknown fields, at any depth: the object becomes a TypeScript object literal passed
//      to the model's constructor, and `tsc` rejects properties the type does not declare
//      (the API server would prune them silently, or refuse them with strict validation).
// Usage: node scripts/validate-crds.mjs OBJECTS.json   (a JSON array of objects)
// Prints one line per problem and exits 1 if there is any; an apiVersion/kind it has no model
// for is a problem too, so nothing passes unchecked.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const tools = join(here, "..", ".tools", "crd-models");
const modules = join(tools, "node_modules");

const MODELS = {
  "monitoring.coreos.com/v1": ["prometheus-operator", ["ServiceMonitor", "PrometheusRule"]],
  "networking.istio.io/v1": ["istio", ["DestinationRule", "VirtualService", "Gateway"]],
  "security.istio.io/v1": [
    "istio",
    ["PeerAuthentication", "AuthorizationPolicy", "RequestAuthentication"],
  ],
  "keda.sh/v1alpha1": ["keda", ["ScaledObject", "TriggerAuthentication"]],
  "argoproj.io/v1alpha1": ["argo-cd", ["Application"]],
  "karpenter.sh/v1": ["karpenter", ["NodePool"]],
  "karpenter.k8s.aws/v1": ["karpenter", ["EC2NodeClass"]],
};

function model(apiVersion, kind) {
  const entry = MODELS[apiVersion];
  if (!entry || !entry[1].includes(kind)) return null;
  const specifier = `@kubernetes-models/${entry[0]}/${apiVersion.split("/")[0]}/${apiVersion.split("/")[1]}/${kind}`;
  return { specifier, file: join(modules, `${specifier}.js`) };
}

const objects = JSON.parse(readFileSync(process.argv[2], "utf8"));
const problems = [];
const typed = [];
for (const [index, object] of objects.entries()) {
  const name = `${object.kind}/${object.metadata?.name} (${object.apiVersion})`;
  const found = model(object.apiVersion, object.kind);
  if (!found) {
    problems.push(`${name}: no model for this apiVersion and kind`);
    continue;
  }
  const module = await import(pathToFileURL(found.file).href);
  try {
    new module[object.kind](object).validate();
  } catch (error) {
    problems.push(`${name}: ${error.message}`);
  }
  typed.push({ index, name, kind: object.kind, specifier: found.specifier, object });
}

if (typed.length) {
  // one .ts file, one statement per object; tsc reports "file(line,col): message"
  const work = mkdtempSync(join(tools, "check-"));
  const lines = [];
  const imports = new Map();
  for (const t of typed) imports.set(`${t.kind}_${imports.size}`, t);
  const alias = new Map([...imports].map(([a, t]) => [t, a]));
  for (const [a, t] of imports) lines.push(`import { ${t.kind} as ${a} } from "${t.specifier}";`);
  const first = lines.length;
  for (const t of typed) {
    const { apiVersion, kind, ...data } = t.object;
    lines.push(`new ${alias.get(t)}(${JSON.stringify(data)});`);
  }
  writeFileSync(join(work, "objects.ts"), lines.join("\n") + "\n");
  try {
    execFileSync(
      process.execPath,
      [
        join(modules, "typescript", "bin", "tsc"),
        "--noEmit",
        "--strict",
        "--skipLibCheck",
        "--target",
        "es2022",
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        join(work, "objects.ts"),
      ],
      { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
    );
  } catch (error) {
    for (const line of `${error.stdout}`.split("\n").filter((l) => l.includes("error TS"))) {
      const match = /objects\.ts\((\d+),\d+\): (.*)/.exec(line);
      const t = match ? typed[Number(match[1]) - 1 - first] : undefined;
      problems.push(t ? `${t.name}: ${match[2]}` : line);
    }
    if (!problems.length) problems.push(`tsc failed: ${error.stderr || error.message}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

for (const p of problems) console.log(p);
console.log(`validate-crds: ${objects.length} object(s), ${problems.length} problem(s)`);
process.exit(problems.length ? 1 : 0);

// The IncidentChannel CustomResourceDefinition, generated from the zod schema. zod emits OpenAPI 3.0 for the *input*
// side (so `.default()` fields are optional and carry `default`, which the apiserver applies); the fixups below turn
// that into a structural schema, and `lintStructural` refuses anything the apiserver would reject or that would
// silently defeat pruning, defaulting or CEL cost estimation.
import { stringify } from 'yaml';
import { z } from 'zod';
import {
  CATEGORIES,
  GROUP,
  IncidentChannelSpec,
  IncidentChannelStatus,
  KIND,
  PLURAL,
  SHORT_NAMES,
  SINGULAR,
  VERSION,
} from './incidentchannel.ts';

export type JsonSchema = { [key: string]: unknown };

export const CRD_NAME = `${PLURAL}.${GROUP}`;

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    scope: 'Cluster';
    names: {
      kind: string;
      listKind: string;
      plural: string;
      singular: string;
      shortNames: string[];
      categories: string[];
    };
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
      schema: { openAPIV3Schema: JsonSchema };
    }>;
  };
}

// `.int()` bounds zod adds by default: meaningless to the apiserver, and noise in `kubectl explain`.
const ZOD_INT_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

/** zod → OpenAPI 3.0 with the per-node fixups (see the notes, operator-engineering §6). */
export function toCrdSchema(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    io: 'input',
    unrepresentable: 'throw',
    override: ({ jsonSchema }) => {
      const node = jsonSchema as JsonSchema;
      // zod pairs `format: date-time` with a ~400-character regex; the format alone is what Kubernetes checks.
      if (node.format === 'date-time') delete node.pattern;
      if (node.type === 'integer') {
        if (ZOD_INT_BOUNDS.has(node.maximum as number)) {
          delete node.maximum;
          node.format = 'int64';
        }
        if (ZOD_INT_BOUNDS.has(node.minimum as number)) delete node.minimum;
      }
      // Closed objects rely on pruning; additionalProperties:false next to properties is rejected.
      if (node.properties !== undefined && node.additionalProperties === false) delete node.additionalProperties;
      delete node.$schema;
    },
  }) as JsonSchema;
}

const OBJECT_SCHEMA: JsonSchema = {
  type: 'object',
  description: 'An isolated, disposable Matrix war room for one security incident.',
  required: ['spec'],
  properties: {
    apiVersion: {
      type: 'string',
      description: 'APIVersion defines the versioned schema of this representation of an object.',
    },
    kind: {
      type: 'string',
      description: 'Kind is a string value representing the REST resource this object represents.',
    },
    // Only name/generateName restrictions are allowed under metadata; the apiserver validates the rest itself.
    metadata: { type: 'object' },
  },
};

export const PRINTER_COLUMNS: PrinterColumn[] = [
  { name: 'Case', type: 'string', jsonPath: '.spec.caseId', description: 'Case identifier.' },
  { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Lifecycle phase.' },
  // A string, not a date: kubectl renders a *future* date column as "<invalid>".
  { name: 'Expires', type: 'string', jsonPath: '.status.expiresAt', description: 'When the war room expires.' },
  {
    name: 'Participants',
    type: 'integer',
    jsonPath: '.status.participantCount',
    description: 'Number of participants (a JSONPath column cannot count a list, so the operator reports it).',
  },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  { name: 'Severity', type: 'string', jsonPath: '.spec.severity', priority: 1 },
  { name: 'Namespace', type: 'string', jsonPath: '.status.namespace', priority: 1 },
  { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', priority: 1 },
];

export function buildCrd(): CustomResourceDefinition {
  const openAPIV3Schema: JsonSchema = {
    ...OBJECT_SCHEMA,
    properties: {
      ...(OBJECT_SCHEMA.properties as JsonSchema),
      spec: toCrdSchema(IncidentChannelSpec),
      status: toCrdSchema(IncidentChannelStatus),
    },
  };
  const problems = lintStructural(openAPIV3Schema);
  if (problems.length > 0) throw new Error(`generated CRD schema is not structural:\n  ${problems.join('\n  ')}`);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: CRD_NAME,
      labels: { 'app.kubernetes.io/name': 'warroom', 'app.kubernetes.io/part-of': 'warroom' },
    },
    spec: {
      group: GROUP,
      scope: 'Cluster',
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: [...SHORT_NAMES],
        categories: [...CATEGORIES],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: PRINTER_COLUMNS,
          schema: { openAPIV3Schema },
        },
      ],
    },
  };
}

export const CRD_YAML_HEADER =
  '# Generated by `npm run gen:crd` (hack/gen-crd.ts) from src/api/v1alpha1/incidentchannel.ts. Do not edit.\n';

/** The exact text of crds/incidentchannels.warroom.dev.yaml; a test compares the committed file with it. */
export function renderCrdYaml(crd: CustomResourceDefinition = buildCrd()): string {
  // lineWidth 0: never fold long CEL rules or patterns across lines.
  return CRD_YAML_HEADER + stringify(crd, { lineWidth: 0 });
}

// ---------------------------------------------------------------------------------------------------------------
// Structural lint

const FORBIDDEN_KEYS = ['$ref', '$schema', '$defs', 'definitions', 'const', 'patternProperties', 'dependencies'];
const JUNCTORS = ['allOf', 'anyOf', 'oneOf', 'not'];
// Inside a junctor only value validations may appear (the structural-schema rules).
const NOT_IN_JUNCTORS = ['type', 'default', 'additionalProperties', 'nullable', 'description'];
// Go's RE2 has no lookaround and no backreferences.
const NON_RE2 = /\(\?[=!]|\(\?<[=!]|\\[1-9]/;

const isObject = (v: unknown): v is JsonSchema => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Problems that make the apiserver reject a CRD schema as non-structural, or that defeat CEL cost estimation
 * (unbounded strings, arrays and maps) or list semantics. Returns one line per problem, prefixed by its path.
 */
export function lintStructural(root: JsonSchema): string[] {
  const problems: string[] = [];
  const report = (path: string, message: string) => problems.push(`${path}: ${message}`);

  const metadata = (root.properties as JsonSchema | undefined)?.metadata;
  if (!isObject(metadata) || metadata.type !== 'object') {
    report('metadata', 'the root must declare metadata as {type: object}');
  } else {
    const extra = Object.keys((metadata.properties as JsonSchema | undefined) ?? {}).filter(
      (k) => k !== 'name' && k !== 'generateName',
    );
    if (extra.length > 0) report('metadata', `only name and generateName may be restricted, not ${extra.join(', ')}`);
  }

  const visit = (node: unknown, path: string, inJunctor: boolean): void => {
    if (!isObject(node)) {
      report(path, 'schema node is not an object');
      return;
    }
    for (const key of FORBIDDEN_KEYS) if (key in node) report(path, `"${key}" is not allowed`);
    if (node.uniqueItems === true) report(path, 'uniqueItems is forbidden; use x-kubernetes-list-type: set');
    if (node.additionalProperties === false) report(path, 'additionalProperties: false is forbidden; rely on pruning');
    if (node.properties !== undefined && node.additionalProperties !== undefined) {
      report(path, 'properties and additionalProperties are mutually exclusive');
    }
    if (typeof node.exclusiveMinimum === 'number' || typeof node.exclusiveMaximum === 'number') {
      report(path, 'exclusiveMinimum/exclusiveMaximum must be booleans in OpenAPI 3.0');
    }
    if (typeof node.pattern === 'string' && NON_RE2.test(node.pattern)) {
      report(path, `pattern uses lookaround or backreferences, which Go's RE2 rejects: ${node.pattern}`);
    }

    if (inJunctor) {
      for (const key of NOT_IN_JUNCTORS) if (key in node) report(path, `"${key}" is not allowed inside ${JUNCTORS}`);
    } else {
      const untyped = node['x-kubernetes-int-or-string'] === true || node['x-kubernetes-preserve-unknown-fields'];
      if (typeof node.type !== 'string' && !untyped) report(path, 'missing "type"');
      // The root apiVersion and kind are the apiserver's own to check, and no CEL rule reads them.
      if (path !== '.apiVersion' && path !== '.kind') checkBounds(node, path, report);
      checkListType(node, path, report);
    }
    checkValidations(node, path, report);

    for (const junctor of JUNCTORS) {
      const branches = node[junctor];
      if (branches === undefined) continue;
      const list = Array.isArray(branches) ? branches : [branches];
      for (const [i, b] of list.entries()) visit(b, `${path}.${junctor}[${i}]`, true);
    }
    if (isObject(node.properties)) {
      for (const [name, child] of Object.entries(node.properties)) visit(child, `${path}.${name}`, inJunctor);
    }
    if (node.items !== undefined) {
      if (Array.isArray(node.items)) report(path, 'items must be a single schema, not a tuple');
      else visit(node.items, `${path}[]`, inJunctor);
    }
    if (isObject(node.additionalProperties)) visit(node.additionalProperties, `${path}{}`, inJunctor);
  };

  visit(root, '', false);
  return problems.map((p) => (p.startsWith(':') ? `(root)${p}` : p.replace(/^\./, '')));
}

type Report = (path: string, message: string) => void;

function checkBounds(node: JsonSchema, path: string, report: Report): void {
  if (node.type === 'string' && node.enum === undefined && node.maxLength === undefined) {
    report(path, 'string without maxLength (CEL cost estimation needs a bound)');
  }
  if (node.type === 'array' && node.maxItems === undefined) {
    report(path, 'array without maxItems (CEL cost estimation needs a bound)');
  }
  if (node.type === 'object' && isObject(node.additionalProperties) && node.maxProperties === undefined) {
    report(path, 'map without maxProperties (CEL cost estimation needs a bound)');
  }
}

function checkListType(node: JsonSchema, path: string, report: Report): void {
  const listType = node['x-kubernetes-list-type'];
  if (listType === undefined) return;
  if (node.type !== 'array') report(path, 'x-kubernetes-list-type on a non-array');
  const items = isObject(node.items) ? node.items : {};
  if (listType === 'set' && (items.type === 'object' || items.type === 'array')) {
    report(path, 'x-kubernetes-list-type: set needs scalar items');
  }
  if (listType === 'map') {
    const keys = node['x-kubernetes-list-map-keys'];
    if (!Array.isArray(keys) || keys.length === 0) {
      report(path, 'x-kubernetes-list-type: map needs x-kubernetes-list-map-keys');
      return;
    }
    const required = Array.isArray(items.required) ? (items.required as string[]) : [];
    const properties = isObject(items.properties) ? items.properties : {};
    for (const key of keys as string[]) {
      const prop = properties[key];
      if (!isObject(prop)) report(path, `list-map key "${key}" is not a property of the items`);
      else if (!required.includes(key) && prop.default === undefined) {
        report(path, `list-map key "${key}" must be required or have a default`);
      }
    }
  }
}

function checkValidations(node: JsonSchema, path: string, report: Report): void {
  const rules = node['x-kubernetes-validations'];
  if (rules === undefined) return;
  if (!Array.isArray(rules)) {
    report(path, 'x-kubernetes-validations must be a list');
    return;
  }
  for (const r of rules) {
    if (!isObject(r) || typeof r.rule !== 'string' || r.rule === '') report(path, 'validation rule without "rule"');
    else if (typeof r.message !== 'string' || r.message === '') report(path, `rule without a message: ${r.rule}`);
  }
}

// The Pulumi program: `pulumi up` in deploy/pulumi installs the warroom operator (see README "Install with Pulumi").
// Stack config keys are those of WarroomSettings (settings.ts), e.g. `pulumi config set warroom:image <ref>`; lists and
// maps are set with --path or as JSON: `pulumi config set --path 'warroom:podCidrs[0]' 10.42.0.0/16`.
import * as pulumi from '@pulumi/pulumi';
import { z } from 'zod';
import { parseSettings, WarroomSettings } from './settings.ts';
import { WarroomOperator } from './warroom.ts';

const config = new pulumi.Config('warroom');
const raw: Record<string, unknown> = {};
for (const [key, field] of Object.entries(WarroomSettings.shape)) {
  // `pulumi config set` stores text; only non-string settings (numbers, booleans, lists, maps) are read as JSON.
  const inner = field instanceof z.ZodDefault ? field.unwrap() : field;
  const textual = inner instanceof z.ZodString || inner instanceof z.ZodEnum;
  const value = textual ? config.get(key) : config.getObject<unknown>(key);
  if (value !== undefined) raw[key] = value;
}
const operator = new WarroomOperator('warroom', parseSettings(raw));

export const namespace = operator.namespace;
export const deployment = operator.deploymentName;

import {
  AlreadyExistsFault,
  AutoScalingClient,
  AutoScalingServiceException,
  CreateAutoScalingGroupCommand,
  ResourceContentionFault,
  ScalingActivityInProgressFault,
  CreateOrUpdateTagsCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeScalingActivitiesCommand,
  SetDesiredCapacityCommand,
  SetInstanceProtectionCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  UpdateAutoScalingGroupCommand,
  type Activity,
  type AutoScalingGroup,
  type CreateAutoScalingGroupCommandInput,
  type Tag,
  type TagDescription,
} from '@aws-sdk/client-auto-scaling';
import { mockClient, type AwsStub } from 'aws-sdk-client-mock';

/**
 * A small, faithful in-memory model of EC2 Auto Scaling behind
 * `aws-sdk-client-mock`: groups with min/max/desired, instances with
 * lifecycle and scale-in protection, tags propagated to instances at launch,
 * scaling activities (newest first) and launch failures you can inject
 * (InsufficientInstanceCapacity, VcpuLimitExceeded). The group converges to
 * its desired capacity synchronously after every call; scale-in picks only
 * unprotected instances, as the real service does.
 *
 * `onLaunch` / `onTerminate` let a harness join nodes to the fake Kubernetes
 * API server, like the EKS bootstrap does.
 */
export interface ModelInstance {
  InstanceId: string;
  InstanceType: string;
  AvailabilityZone: string;
  LifecycleState: 'InService' | 'Terminating' | 'Terminated';
  HealthStatus: 'Healthy';
  ProtectedFromScaleIn: boolean;
  /** Tags the instance got at launch (PropagateAtLaunch). */
  tags: Record<string, string>;
  launchedAt: number;
  /** When it started terminating (ms), if it did. */
  terminatingSince?: number;
}

interface ModelGroup {
  name: string;
  min: number;
  max: number;
  desired: number;
  instanceType: string;
  vpcZoneIdentifier: string;
  newInstancesProtected: boolean;
  launchTemplate: unknown;
  mixedInstancesPolicy: unknown;
  tags: TagDescription[];
  instances: ModelInstance[];
  activities: Activity[];
  createdAt: number;
}

export interface LaunchFailure {
  code: 'InsufficientInstanceCapacity' | 'VcpuLimitExceeded' | string;
  message?: string;
}

export interface AsgModelOptions {
  now?: () => number;
  onLaunch?: (instance: ModelInstance, groupName: string) => void;
  onTerminate?: (instance: ModelInstance, groupName: string) => void;
  /** Awaited before each call is served, to interleave concurrent callers. */
  latency?: () => Promise<void>;
  /** Awaited before each call with the command name and the calling client, to force an exact interleaving. */
  gate?: (command: string, input: any, client: unknown) => Promise<void> | void;
  /** A fault to answer a call with instead of serving it (chaos runs): `Throttling`, `ScalingActivityInProgressFault`, `ResourceContentionFault`. */
  fault?: (command: string) => AsgFaultName | undefined;
  /**
   * How long a terminated instance stays listed as Terminating (then
   * Terminated, then gone), and how long a new group is missing from
   * Describe (eventual consistency). @default 0 both
   */
  terminatingMs?: number;
  describeLagMs?: number;
}

/**
 * Errors the Auto Scaling API documents for the mutating calls the backend
 * makes (SetDesiredCapacity, UpdateAutoScalingGroup,
 * TerminateInstanceInAutoScalingGroup, CreateAutoScalingGroup:
 * ScalingActivityInProgressFault, ResourceContentionFault), and the
 * account-wide request throttling every call can get ("Throttling: Rate
 * exceeded", AWS Auto Scaling API Reference, Common Errors).
 */
export type AsgFaultName = 'Throttling' | 'ScalingActivityInProgressFault' | 'ResourceContentionFault';

const FAULT_COMMANDS: Record<AsgFaultName, string[] | '*'> = {
  Throttling: '*',
  ScalingActivityInProgressFault: ['SetDesiredCapacity', 'UpdateAutoScalingGroup', 'TerminateInstanceInAutoScalingGroup'],
  ResourceContentionFault: ['SetDesiredCapacity', 'UpdateAutoScalingGroup', 'TerminateInstanceInAutoScalingGroup', 'CreateAutoScalingGroup', 'CreateOrUpdateTags'],
};

export function asgFault(name: AsgFaultName): Error {
  if (name === 'ScalingActivityInProgressFault') {
    return new ScalingActivityInProgressFault({ $metadata: { httpStatusCode: 400 }, message: 'Scaling activities in progress prevent this operation.' });
  }
  if (name === 'ResourceContentionFault') {
    return new ResourceContentionFault({
      $metadata: { httpStatusCode: 500 },
      message: 'You already have a pending update to an Amazon EC2 Auto Scaling resource (for example, an Auto Scaling group, instance, or load balancer).',
    });
  }
  return new AutoScalingServiceException({ name: 'Throttling', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'Rate exceeded' });
}

const validation = (message: string) =>
  new AutoScalingServiceException({ name: 'ValidationError', $fault: 'client', $metadata: { httpStatusCode: 400 }, message });

export function launchFailureMessage(failure: LaunchFailure, instanceType: string): string {
  if (failure.message) return failure.message;
  if (failure.code === 'InsufficientInstanceCapacity') {
    return (
      `Could not launch On-Demand Instances. InsufficientInstanceCapacity - We currently do not have sufficient ${instanceType} capacity in the ` +
      `Availability Zone you requested (us-east-1a). Our system will be working on provisioning additional capacity. Launching EC2 instance failed.`
    );
  }
  if (failure.code === 'VcpuLimitExceeded') {
    return (
      'Could not launch On-Demand Instances. VcpuLimitExceeded - You have requested more vCPU capacity than your current vCPU limit of 32 ' +
      'allows for the instance bucket that the specified instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request ' +
      'to request an adjustment to this limit. Launching EC2 instance failed.'
    );
  }
  return `Could not launch On-Demand Instances. ${failure.code}. Launching EC2 instance failed.`;
}

export class AsgModel {
  private readonly groups = new Map<string, ModelGroup>();
  private readonly failures: Array<{ match: string | RegExp; failure: LaunchFailure; remaining: number }> = [];
  private instanceSeq = 0;
  private activitySeq = 0;
  private readonly now: () => number;
  /** Every desired-capacity change: (group, desired) in order, for assertions. */
  readonly desiredHistory: Array<{ group: string; desired: number }> = [];
  stub: AwsStub<any, any, any> | undefined;

  constructor(private readonly options: AsgModelOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /** Replace AutoScalingClient#send (every instance) with this model. Call `restore()` after. */
  install(): this {
    const stub = mockClient(AutoScalingClient);
    stub.onAnyCommand().rejects(new Error('AsgModel: command not modelled'));
    const serve = (command: string, fn: (input: any) => unknown) => async (input: any, getClient: () => unknown) => {
      if (this.options.latency) await this.options.latency();
      if (this.options.gate) await this.options.gate(command, input, getClient());
      const fault = this.injected(command);
      if (fault) throw asgFault(fault);
      this.expireTerminating();
      return fn(input);
    };
    stub.on(CreateAutoScalingGroupCommand).callsFake(serve('CreateAutoScalingGroup', (i) => this.createGroup(i)));
    stub.on(DescribeAutoScalingGroupsCommand).callsFake(serve('DescribeAutoScalingGroups', (i) => this.describeGroups(i)));
    stub.on(SetDesiredCapacityCommand).callsFake(serve('SetDesiredCapacity', (i) => this.setDesired(i.AutoScalingGroupName, i.DesiredCapacity)));
    stub.on(UpdateAutoScalingGroupCommand).callsFake(serve('UpdateAutoScalingGroup', (i) => this.updateGroup(i)));
    stub.on(TerminateInstanceInAutoScalingGroupCommand).callsFake(
      serve('TerminateInstanceInAutoScalingGroup', (i) => this.terminate(i.InstanceId, i.ShouldDecrementDesiredCapacity)),
    );
    stub.on(CreateOrUpdateTagsCommand).callsFake(serve('CreateOrUpdateTags', (i) => this.putTags(i.Tags ?? [])));
    stub.on(DescribeScalingActivitiesCommand).callsFake(serve('DescribeScalingActivities', (i) => this.describeActivities(i.AutoScalingGroupName, i.MaxRecords)));
    stub.on(SetInstanceProtectionCommand).callsFake(
      serve('SetInstanceProtection', (i) => this.setProtection(i.AutoScalingGroupName, i.InstanceIds ?? [], i.ProtectedFromScaleIn)),
    );
    this.stub = stub;
    return this;
  }

  restore(): void {
    this.stub?.restore();
    this.stub = undefined;
  }

  /** The next `times` launches in groups matching `match` fail with this error (a Failed scaling activity). */
  failLaunches(match: string | RegExp, failure: LaunchFailure, times = Number.POSITIVE_INFINITY): void {
    this.failures.push({ match, failure, remaining: times });
  }

  clearLaunchFailures(): void {
    this.failures.length = 0;
  }

  private readonly faults: Array<{ command: string; name: AsgFaultName; remaining: number }> = [];
  /** Faults answered, by name (chaos runs report them). */
  readonly faultCounts = new Map<string, number>();

  /** The next `times` calls of `command` (or any command it applies to, `*`) fail with this fault. */
  injectFault(command: string, name: AsgFaultName, times = 1): void {
    this.faults.push({ command, name, remaining: times });
  }

  private injected(command: string): AsgFaultName | undefined {
    let name: AsgFaultName | undefined;
    const f = this.faults.find((x) => x.remaining > 0 && (x.command === '*' || x.command === command));
    if (f) {
      f.remaining -= 1;
      name = f.name;
    } else name = this.options.fault?.(command);
    if (!name) return undefined;
    const applies = FAULT_COMMANDS[name];
    if (applies !== '*' && !applies.includes(command)) return undefined;
    this.faultCounts.set(name, (this.faultCounts.get(name) ?? 0) + 1);
    return name;
  }

  /** Terminating instances become Terminated, then leave the listing. */
  private expireTerminating(): void {
    const ttl = this.options.terminatingMs ?? 0;
    for (const g of this.groups.values()) {
      for (const i of g.instances) {
        if (i.terminatingSince !== undefined && this.now() - i.terminatingSince >= ttl) i.LifecycleState = 'Terminated';
      }
      g.instances = g.instances.filter((i) => i.terminatingSince === undefined || this.now() - i.terminatingSince < 2 * ttl);
    }
  }

  /** Instances that count towards capacity (not on their way out). */
  private active(g: ModelGroup): ModelInstance[] {
    return g.instances.filter((i) => i.terminatingSince === undefined);
  }

  groupNames(): string[] {
    return [...this.groups.keys()].sort();
  }

  group(name: string): { desired: number; min: number; max: number; instances: ModelInstance[]; tags: TagDescription[] } | undefined {
    const g = this.groups.get(name);
    return g ? { desired: g.desired, min: g.min, max: g.max, instances: g.instances.map((i) => ({ ...i })), tags: [...g.tags] } : undefined;
  }

  // ------------------------------------------------------------------ API

  private mustGroup(name: string | undefined): ModelGroup {
    const g = this.groups.get(name ?? '');
    if (!g) throw validation(`AutoScalingGroup name not found - AutoScalingGroup ${name} not found`);
    return g;
  }

  /** CreateAutoScalingGroup: AlreadyExistsFault, min ≤ desired ≤ max, a launch source and subnets required (AWS Auto Scaling API Reference, CreateAutoScalingGroup). */
  createGroup(input: CreateAutoScalingGroupCommandInput): Record<string, never> {
    const name = input.AutoScalingGroupName ?? '';
    if (!name) throw validation('1 validation error detected: Value null at autoScalingGroupName failed to satisfy constraint');
    if (this.groups.has(name)) {
      throw new AlreadyExistsFault({ $metadata: { httpStatusCode: 400 }, message: `AutoScalingGroup by this name already exists - A group with the name ${name} already exists` });
    }
    const min = input.MinSize ?? 0;
    const max = input.MaxSize ?? 0;
    const desired = input.DesiredCapacity ?? min;
    if (min > max) throw validation('Max bound, ' + max + ', must be greater than or equal to min bound, ' + min);
    if (desired < min || desired > max) throw validation(`Desired capacity:${desired} must be between the specified min size:${min} and max size:${max}`);
    const instanceType =
      (input.MixedInstancesPolicy?.LaunchTemplate?.Overrides?.[0]?.InstanceType as string | undefined) ??
      (input.LaunchTemplate ? 'launch-template-default' : undefined);
    if (!instanceType) throw validation('Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or MixedInstancesPolicy parameter.');
    if (!input.VPCZoneIdentifier) throw validation('No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.');
    for (const t of input.Tags ?? []) {
      if (t.ResourceId && t.ResourceId !== name) throw validation(`Tag ResourceId ${t.ResourceId} does not match the group name ${name}`);
    }
    const group: ModelGroup = {
      name,
      min,
      max,
      desired,
      instanceType,
      vpcZoneIdentifier: input.VPCZoneIdentifier,
      newInstancesProtected: input.NewInstancesProtectedFromScaleIn ?? false,
      launchTemplate: input.LaunchTemplate,
      mixedInstancesPolicy: input.MixedInstancesPolicy,
      tags: (input.Tags ?? []).map((t) => ({ ...t, ResourceId: name, ResourceType: 'auto-scaling-group' })),
      instances: [],
      activities: [],
      createdAt: this.now(),
    };
    this.groups.set(name, group);
    this.recordDesired(group);
    this.converge(group);
    return {};
  }

  /**
   * DescribeAutoScalingGroups: pages of `MaxRecords` (default 50, at most
   * 100) with `NextToken` (AWS Auto Scaling API Reference,
   * DescribeAutoScalingGroups); a group created less than `describeLagMs`
   * ago is not listed yet (eventual consistency).
   */
  describeGroups(input: {
    AutoScalingGroupNames?: string[];
    Filters?: Array<{ Name?: string; Values?: string[] }>;
    MaxRecords?: number;
    NextToken?: string;
  }): { AutoScalingGroups: AutoScalingGroup[]; NextToken?: string } {
    const max = input.MaxRecords ?? 50;
    if (max < 1 || max > 100) throw validation(`1 validation error detected: Value '${max}' at 'maxRecords' failed to satisfy constraint: Member must have value less than or equal to 100`);
    const lag = this.options.describeLagMs ?? 0;
    let groups = [...this.groups.values()].filter((g) => this.now() - g.createdAt >= lag).sort((a, b) => a.name.localeCompare(b.name));
    if (input.AutoScalingGroupNames?.length) groups = groups.filter((g) => input.AutoScalingGroupNames?.includes(g.name));
    for (const f of input.Filters ?? []) {
      const tagKey = f.Name?.startsWith('tag:') ? f.Name.slice(4) : undefined;
      if (tagKey) groups = groups.filter((g) => g.tags.some((t) => t.Key === tagKey && (f.Values ?? []).includes(t.Value ?? '')));
    }
    const start = input.NextToken ? Number(Buffer.from(input.NextToken, 'base64').toString('utf8').replace(/^page:/, '')) : 0;
    if (!Number.isInteger(start) || start < 0) throw validation('The NextToken value is invalid.');
    const page = groups.slice(start, start + max);
    const next = start + max < groups.length ? Buffer.from(`page:${start + max}`).toString('base64') : undefined;
    return { AutoScalingGroups: page.map((g) => this.view(g)), ...(next ? { NextToken: next } : {}) };
  }

  private view(g: ModelGroup): AutoScalingGroup {
    return {
      AutoScalingGroupName: g.name,
      AutoScalingGroupARN: `arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:00000000:autoScalingGroupName/${g.name}`,
      MinSize: g.min,
      MaxSize: g.max,
      DesiredCapacity: g.desired,
      DefaultCooldown: 300,
      AvailabilityZones: ['us-east-1a'],
      HealthCheckType: 'EC2',
      CreatedTime: new Date(g.createdAt),
      VPCZoneIdentifier: g.vpcZoneIdentifier,
      NewInstancesProtectedFromScaleIn: g.newInstancesProtected,
      ...(g.mixedInstancesPolicy ? { MixedInstancesPolicy: g.mixedInstancesPolicy as AutoScalingGroup['MixedInstancesPolicy'] } : {}),
      Instances: g.instances.map((i) => ({
        InstanceId: i.InstanceId,
        InstanceType: i.InstanceType,
        AvailabilityZone: i.AvailabilityZone,
        LifecycleState: i.LifecycleState,
        HealthStatus: i.HealthStatus,
        ProtectedFromScaleIn: i.ProtectedFromScaleIn,
      })),
      Tags: g.tags.map((t) => ({ ...t })),
    };
  }

  /** SetDesiredCapacity: refused outside [min, max] with ValidationError (AWS Auto Scaling API Reference, SetDesiredCapacity). */
  setDesired(name: string | undefined, desired: number | undefined): Record<string, never> {
    const g = this.mustGroup(name);
    const d = desired ?? 0;
    if (d > g.max) throw validation(`New SetDesiredCapacity value ${d} is above max value ${g.max} for the AutoScalingGroup.`);
    if (d < g.min) throw validation(`New SetDesiredCapacity value ${d} is below min value ${g.min} for the AutoScalingGroup.`);
    if (g.desired !== d) {
      g.desired = d;
      this.recordDesired(g);
    }
    this.converge(g);
    return {};
  }

  updateGroup(input: { AutoScalingGroupName?: string; MinSize?: number; MaxSize?: number; DesiredCapacity?: number }): Record<string, never> {
    const g = this.mustGroup(input.AutoScalingGroupName);
    const min = input.MinSize ?? g.min;
    const max = input.MaxSize ?? g.max;
    let desired = input.DesiredCapacity ?? g.desired;
    if (min > max) throw validation(`Max bound, ${max}, must be greater than or equal to min bound, ${min}`);
    // Changing only the bounds moves desired inside them (AWS Auto Scaling API Reference, UpdateAutoScalingGroup:
    // "If you specify a new value for MinSize without specifying a value for DesiredCapacity … sets DesiredCapacity to the new MinSize").
    if (input.DesiredCapacity === undefined) desired = Math.min(max, Math.max(min, desired));
    if (desired < min || desired > max) throw validation(`Desired capacity:${desired} must be between the specified min size:${min} and max size:${max}`);
    g.min = min;
    g.max = max;
    if (g.desired !== desired) {
      g.desired = desired;
      this.recordDesired(g);
    }
    this.converge(g);
    return {};
  }

  /**
   * TerminateInstanceInAutoScalingGroup: ShouldDecrementDesiredCapacity may not take the group below its
   * minimum, and without it the group launches a replacement (AWS Auto Scaling API Reference,
   * TerminateInstanceInAutoScalingGroup).
   */
  terminate(instanceId: string | undefined, decrement: boolean | undefined): { Activity: Activity } {
    const g = [...this.groups.values()].find((x) => x.instances.some((i) => i.InstanceId === instanceId));
    if (!g) throw validation(`Instance Id not found - No managed instance found for instance ID: ${instanceId}`);
    if (decrement && g.desired - 1 < g.min) {
      throw validation(`Currently, desiredSize equals minSize (${g.min}). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.`);
    }
    const instance = g.instances.find((i) => i.InstanceId === instanceId) as ModelInstance;
    if (instance.terminatingSince !== undefined) {
      throw validation(`The instance ${instanceId} is already in the process of terminating.`);
    }
    this.retire(g, instance);
    if (decrement) {
      g.desired -= 1;
      this.recordDesired(g);
    }
    const activity = this.activity(g, 'Successful', `Terminating EC2 instance: ${instanceId}`, 'At user request, instance was taken out of service in response to a user request.');
    this.options.onTerminate?.(instance, g.name);
    this.converge(g);
    return { Activity: activity };
  }

  /** CreateOrUpdateTags: a tag with an existing key is overwritten; PropagateAtLaunch applies to instances launched later only (User Guide, "Tag Auto Scaling groups and instances"). */
  putTags(tags: Tag[]): Record<string, never> {
    for (const t of tags) {
      const g = this.mustGroup(t.ResourceId);
      const existing = g.tags.find((x) => x.Key === t.Key);
      if (existing) {
        existing.Value = t.Value ?? '';
        existing.PropagateAtLaunch = t.PropagateAtLaunch ?? false;
      } else g.tags.push({ ...t, ResourceType: 'auto-scaling-group' });
    }
    return {};
  }

  /** DescribeScalingActivities: newest first, at most MaxRecords (default 100) (AWS Auto Scaling API Reference, DescribeScalingActivities). */
  describeActivities(name: string | undefined, max = 100): { Activities: Activity[] } {
    if (!name) return { Activities: [] };
    const g = this.groups.get(name);
    return { Activities: g ? g.activities.slice(0, max).map((a) => ({ ...a })) : [] };
  }

  /** SetInstanceProtection: only instances of the group (AWS Auto Scaling API Reference, SetInstanceProtection; User Guide, "Use instance scale-in protection"). */
  setProtection(name: string | undefined, ids: string[], protect: boolean | undefined): Record<string, never> {
    const g = this.mustGroup(name);
    for (const id of ids) {
      const i = g.instances.find((x) => x.InstanceId === id);
      if (!i) throw validation(`The instance ${id} is not part of Auto Scaling group ${name}.`);
      i.ProtectedFromScaleIn = Boolean(protect);
    }
    return {};
  }

  // ------------------------------------------------------------------ behaviour

  private recordDesired(g: ModelGroup): void {
    this.desiredHistory.push({ group: g.name, desired: g.desired });
  }

  private activity(g: ModelGroup, status: 'Successful' | 'Failed', description: string, cause: string, statusMessage?: string): Activity {
    this.activitySeq += 1;
    const at = new Date(this.now());
    const a: Activity = {
      ActivityId: `00000000-0000-0000-0000-${String(this.activitySeq).padStart(12, '0')}`,
      AutoScalingGroupName: g.name,
      Description: description,
      Cause: `At ${at.toISOString()} ${cause}`,
      StartTime: at,
      EndTime: at,
      StatusCode: status,
      Progress: 100,
      ...(statusMessage ? { StatusMessage: statusMessage } : {}),
    };
    g.activities.unshift(a);
    return a;
  }

  private launchFailure(g: ModelGroup): LaunchFailure | undefined {
    for (const f of this.failures) {
      if (f.remaining <= 0) continue;
      const hit = typeof f.match === 'string' ? f.match === '*' || f.match === g.name : f.match.test(g.name);
      if (hit) {
        f.remaining -= 1;
        return f.failure;
      }
    }
    return undefined;
  }

  /**
   * Out of service: listed as Terminating for `terminatingMs`, then Terminated, no longer counted towards
   * capacity (User Guide, "Amazon EC2 Auto Scaling instance lifecycle": InService → Terminating → Terminated).
   */
  private retire(g: ModelGroup, instance: ModelInstance): void {
    if ((this.options.terminatingMs ?? 0) > 0) {
      instance.LifecycleState = 'Terminating';
      instance.terminatingSince = this.now();
    } else g.instances = g.instances.filter((i) => i !== instance);
  }

  private converge(g: ModelGroup): void {
    while (this.active(g).length < g.desired) {
      const failure = this.launchFailure(g);
      // A failed launch is a Failed scaling activity whose StatusMessage carries EC2's error; the group retries
      // later (User Guide, "Troubleshoot Amazon EC2 Auto Scaling: EC2 instance launch failures").
      if (failure) {
        const message = launchFailureMessage(failure, g.instanceType);
        this.activity(
          g,
          'Failed',
          'Launching a new EC2 instance.  Status Reason: ' + message,
          `an attempt was made to increase the capacity from ${this.active(g).length} to ${g.desired}.`,
          message,
        );
        return;
      }
      this.instanceSeq += 1;
      const instance: ModelInstance = {
        InstanceId: `i-${this.instanceSeq.toString(16).padStart(17, '0')}`,
        InstanceType: g.instanceType,
        AvailabilityZone: 'us-east-1a',
        LifecycleState: 'InService',
        HealthStatus: 'Healthy',
        ProtectedFromScaleIn: g.newInstancesProtected,
        tags: Object.fromEntries(g.tags.filter((t) => t.PropagateAtLaunch).map((t) => [t.Key ?? '', t.Value ?? ''])),
        launchedAt: this.now(),
      };
      g.instances.push(instance);
      this.activity(g, 'Successful', `Launching a new EC2 instance: ${instance.InstanceId}`, `an instance was started in response to a difference between desired and actual capacity, increasing the capacity from ${this.active(g).length - 1} to ${this.active(g).length}.`);
      this.options.onLaunch?.(instance, g.name);
    }
    while (this.active(g).length > g.desired) {
      // Default termination policy, restricted to unprotected instances (User Guide, "Configure termination policies"
      // and "Use instance scale-in protection": protected instances are never chosen for scale-in); with one AZ and
      // one launch template here, the oldest goes first.
      const victim = this.active(g).filter((i) => !i.ProtectedFromScaleIn).sort((a, b) => a.launchedAt - b.launchedAt)[0];
      if (!victim) return; // protected instances stay; desired capacity is kept as set
      this.retire(g, victim);
      this.activity(g, 'Successful', `Terminating EC2 instance: ${victim.InstanceId}`, `an instance was taken out of service in response to a difference between desired and actual capacity, shrinking the capacity from ${this.active(g).length + 1} to ${this.active(g).length}.`);
      this.options.onTerminate?.(victim, g.name);
    }
  }
}

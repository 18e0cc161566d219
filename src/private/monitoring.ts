import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cw_actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FAILURE_FOLDER } from '../contract';

type MetricOf = (props?: cloudwatch.MetricOptions) => cloudwatch.Metric;

/** What the alarms and the dashboard watch: the pipeline's metrics, and the scope they go in. */
export interface MonitoredPipeline extends Construct {
  readonly processor: lambda.IFunction;
  readonly uploadQueue?: sqs.IQueue;
  readonly metricErrors: MetricOf;
  readonly metricInvocations: MetricOf;
  readonly metricDuration: MetricOf;
  readonly metricThrottles: MetricOf;
  readonly metricConcurrentExecutions: MetricOf;
  readonly metricAsyncEventAge: MetricOf;
  readonly metricAsyncEventsDropped: MetricOf;
  readonly metricImagesProcessed: MetricOf;
  readonly metricImagesRejected: MetricOf;
  readonly metricFailureQueueDepth: MetricOf;
}

export interface AlarmOptions {
  readonly timeout: Duration;
  readonly queueMode: boolean;
  readonly rejectedImagesAlarmThreshold: number;
  readonly alarmTopic?: sns.ITopic;
}

/**
 * The pipeline's alarms: errors, throttles, duration near the timeout, failure-queue depth,
 * recursive invocations dropped, rejected images, and async events dropped and their age (or, in
 * queue mode, the age of the oldest upload message). They notify `alarmTopic` when it is given.
 */
export function createAlarms(pipeline: MonitoredPipeline, options: AlarmOptions): cloudwatch.IAlarm[] {
  const { timeout, queueMode, rejectedImagesAlarmThreshold, alarmTopic } = options;
  const period = Duration.minutes(5);
  const alarm = (id: string, description: string, metric: cloudwatch.IMetric, threshold: number) =>
    new cloudwatch.Alarm(pipeline, id, {
      alarmDescription: description,
      metric,
      threshold,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  const sum = { period, statistic: cloudwatch.Stats.SUM };
  const max = { period, statistic: cloudwatch.Stats.MAXIMUM };
  const alarms = [
    alarm('ErrorsAlarm', 'The image processor failed invocations (transient errors are retried; see its logs).',
      pipeline.metricErrors(sum), 1),
    alarm('ThrottlesAlarm', 'The image processor was throttled: raise its concurrency or the account limit.',
      pipeline.metricThrottles(sum), 1),
    alarm('DurationAlarm', 'An image took more than 80% of the processor timeout: raise memorySize or timeout.',
      pipeline.metricDuration(max), Math.floor(timeout.toMilliseconds() * 0.8)),
    alarm('FailureQueueAlarm', 'Events failed past every retry and wait in the failure queue.',
      pipeline.metricFailureQueueDepth(max), 1),
    alarm('RecursiveInvocationsAlarm', 'Lambda stopped a recursive loop of the image processor: check that outputs do not trigger it.',
      pipeline.processor.metric('RecursiveInvocationsDropped', sum), 1),
    alarm('RejectedImagesAlarm', `Uploads were rejected as not processable images; their failure records are under ${FAILURE_FOLDER} in the output bucket.`,
      pipeline.metricImagesRejected(sum), rejectedImagesAlarmThreshold),
  ];
  if (queueMode) {
    alarms.push(alarm('UploadQueueAgeAlarm', 'Uploads have waited more than 15 minutes in the upload queue: the processor is falling behind.',
      pipeline.uploadQueue!.metricApproximateAgeOfOldestMessage(max), 15 * 60));
  } else {
    alarms.push(
      alarm('AsyncEventsDroppedAlarm', 'Lambda dropped upload events (too old or throttled too long) before the processor ran them.',
        pipeline.metricAsyncEventsDropped(sum), 1),
      alarm('AsyncEventAgeAlarm', 'Upload events waited more than 15 minutes before the processor ran them.',
        pipeline.metricAsyncEventAge(max), 15 * 60 * 1000),
    );
  }
  if (alarmTopic) {
    const action = new cw_actions.SnsAction(alarmTopic);
    for (const a of alarms) {
      a.addAlarmAction(action);
      a.addOkAction(action);
    }
  }
  return alarms;
}

/** A dashboard of the pipeline: the original system's metrics and the images processed and rejected. */
export function createDashboard(pipeline: MonitoredPipeline, queueMode: boolean): cloudwatch.Dashboard {
  const period = Duration.minutes(5);
  const sum = { period, statistic: cloudwatch.Stats.SUM };
  const max = { period, statistic: cloudwatch.Stats.MAXIMUM };
  const invocations = pipeline.metricInvocations(sum);
  const errors = pipeline.metricErrors(sum);
  const dashboard = new cloudwatch.Dashboard(pipeline, 'Dashboard', { defaultInterval: Duration.hours(3) });
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({ title: 'Invocations', left: [invocations], width: 8 }),
    new cloudwatch.GraphWidget({
      title: 'Errors and success rate',
      left: [errors],
      right: [new cloudwatch.MathExpression({
        expression: 'IF(invocations > 0, 100 - 100 * errors / invocations, 100)',
        usingMetrics: { invocations, errors },
        label: 'success rate (%)',
        period,
      })],
      rightYAxis: { min: 0, max: 100 },
      width: 8,
    }),
    new cloudwatch.GraphWidget({ title: 'Throttles', left: [pipeline.metricThrottles(sum)], width: 8 }),
  );
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Duration',
      left: [
        pipeline.metricDuration({ period, statistic: cloudwatch.Stats.p(50), label: 'p50' }),
        pipeline.metricDuration({ period, statistic: cloudwatch.Stats.p(99), label: 'p99' }),
        pipeline.metricDuration({ ...max, label: 'max' }),
      ],
      width: 8,
    }),
    new cloudwatch.GraphWidget({ title: 'Concurrent executions', left: [pipeline.metricConcurrentExecutions(max)], width: 8 }),
    queueMode
      ? new cloudwatch.GraphWidget({ title: 'Upload queue: oldest message (s)', left: [pipeline.uploadQueue!.metricApproximateAgeOfOldestMessage(max)], width: 8 })
      : new cloudwatch.GraphWidget({
        title: 'Async events: age (ms) and dropped',
        left: [pipeline.metricAsyncEventAge(max)],
        right: [pipeline.metricAsyncEventsDropped(sum)],
        width: 8,
      }),
  );
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({ title: 'Images processed', left: [pipeline.metricImagesProcessed(sum)], width: 8 }),
    new cloudwatch.GraphWidget({ title: 'Images rejected', left: [pipeline.metricImagesRejected(sum)], width: 8 }),
    new cloudwatch.GraphWidget({ title: 'Failure queue depth', left: [pipeline.metricFailureQueueDepth(max)], width: 8 }),
  );
  return dashboard;
}

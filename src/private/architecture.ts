import * as lambda from 'aws-cdk-lib/aws-lambda';

/** The architecture the processor and the sharp layer default to. */
export const DEFAULT_ARCHITECTURE = lambda.Architecture.ARM_64;

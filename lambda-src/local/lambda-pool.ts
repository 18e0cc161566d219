/**
 * The local Lambda pool's former path, kept so that code importing it from here (bench/) goes on
 * working. New code imports ./lambda/lambda-pool.
 */
export * from './lambda/lambda-pool';

export * from './image-preprocessing-pipeline';
export * from './pipeline-props';
export * from './variant';
export * from './sharp-layer';
export * from './features';
export * from './upload-api';

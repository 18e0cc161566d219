export * from './image-preprocessing-pipeline';
export * from './sharp-layer';

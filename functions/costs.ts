// Placeholder: implemented by its owning issue. Present so serverless.yml can package it.
export const handler = async (): Promise<{ statusCode: number; body: string }> => ({
  statusCode: 501,
  body: JSON.stringify({ error: { type: 'NotImplementedError', message: 'costs is not available yet', details: [] } }),
});

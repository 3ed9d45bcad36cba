/** OpenAPI 3 description of the DRP legacy REST API, served at GET /openapi.json. */
export const openApiDocument = {
  openapi: '3.0.3',
  info: {
    title: 'DRP person registry (legacy REST API)',
    version: '1.0.0',
    description:
      'The Department of Registration of Persons register, keyed by national identity card number (NIC). ' +
      'Every /person call needs the X-API-Key header.',
  },
  servers: [{ url: 'http://127.0.0.1:9091' }],
  components: {
    securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' } },
    schemas: {
      Person: {
        type: 'object',
        required: [
          'nic',
          'full_name',
          'other_names',
          'permanent_address',
          'profession',
          'sex',
          'date_of_birth',
        ],
        properties: {
          nic: { type: 'string', pattern: '^(\\d{9}[VX]|\\d{12})$', example: '199560201234' },
          full_name: { type: 'string', example: 'Amara Chanda' },
          other_names: { type: 'string', nullable: true },
          permanent_address: { type: 'string' },
          profession: { type: 'string', nullable: true },
          sex: { type: 'string', enum: ['MALE', 'FEMALE'] },
          date_of_birth: { type: 'string', format: 'date', example: '1995-04-12' },
        },
      },
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: {
              code: { type: 'string', example: 'NOT_FOUND' },
              message: { type: 'string' },
              details: { type: 'object' },
            },
          },
        },
      },
    },
  },
  paths: {
    '/person/{nic}': {
      get: {
        summary: 'One person by NIC',
        operationId: 'getPerson',
        security: [{ apiKey: [] }],
        parameters: [
          {
            name: 'nic',
            in: 'path',
            required: true,
            description: 'Old format: 9 digits and V or X (e.g. 852321234V); new format: 12 digits',
            schema: { type: 'string', pattern: '^(\\d{9}[VX]|\\d{12})$' },
          },
        ],
        responses: {
          '200': {
            description: 'The person',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Person' } } },
          },
          '400': {
            description: 'Malformed NIC (code BAD_REQUEST)',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
          },
          '401': {
            description: 'Missing or wrong X-API-Key (code UNAUTHENTICATED)',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
          },
          '404': {
            description: 'No person with this NIC (code NOT_FOUND)',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
          },
        },
      },
    },
  },
} as const;

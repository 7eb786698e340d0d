/**
 * The built-in tools the platform runs (see `agentic.tools.registry`), with what their `config` takes.
 * Entries named `mcp:<server>` offer the tools of an MCP server the organisation registered.
 */
export interface ToolInfo {
  name: string;
  label: string;
  description: string;
  configExample: string;
}

export const TOOL_CATALOG: ToolInfo[] = [
  {
    name: 'http_request',
    label: 'HTTP request',
    description: 'Make an HTTP request to a public URL and read the status and body.',
    configExample: '{"allowed_domains": ["api.example.com"]}',
  },
  {
    name: 'web_fetch',
    label: 'Fetch web page',
    description: 'Fetch a public web page as readable text.',
    configExample: '{"allowed_domains": ["docs.example.com"]}',
  },
  {
    name: 'web_search',
    label: 'Web search',
    description: 'Search the web; titles, URLs and snippets of the top results.',
    configExample: '{"max_results": 5}',
  },
  {
    name: 'python',
    label: 'Python sandbox',
    description: 'Run Python 3 (standard library only) in an isolated sandbox without network.',
    configExample: '{}',
  },
  {
    name: 'sql_query',
    label: 'SQL query',
    description: 'Run one read-only SQL query on a database connection of the organisation.',
    configExample: '{"connections": ["analytics"]}',
  },
];

export const toolInfo = (name: string): ToolInfo | undefined =>
  TOOL_CATALOG.find((tool) => tool.name === name) ??
  (name.startsWith('mcp:')
    ? {
        name,
        label: `MCP server “${name.slice(4)}”`,
        description: 'The tools of an MCP server registered by the organisation (all, or those listed in config.tools).',
        configExample: '{"tools": ["search_issues"]}',
      }
    : undefined);

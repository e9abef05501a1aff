'use strict';
/*
 * Loads the app's TypeScript sources without a build step: `require` of a `.ts` file transpiles it
 * with the pinned `typescript` package (transpileModule, per file, like ts-node's transpile-only
 * mode), with the decorator options Nest needs from tsconfig.json. Type checking is `npx tsc -p .`.
 */
const fs = require('fs');
const path = require('path');
const ts = require('typescript');

const configPath = path.join(__dirname, 'tsconfig.json');
const { config, error } = ts.readConfigFile(configPath, ts.sys.readFile);
if (error) throw new Error(`${configPath}: ${ts.flattenDiagnosticMessageText(error.messageText, '\n')}`);
const { options } = ts.convertCompilerOptionsFromJson(config.compilerOptions, __dirname);
options.noEmit = false;
options.sourceMap = false;
options.inlineSourceMap = true;

require.extensions['.ts'] = function compileTs(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { outputText } = ts.transpileModule(source, { compilerOptions: options, fileName: filename });
  module._compile(outputText, filename);
};

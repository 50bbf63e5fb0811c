/**
 * Writes the package's type declarations as one self-contained file per module format:
 * `dist/index.d.ts` (for `import`) and `dist/index.d.cts` (for `require`), with the same text.
 *
 * Why one file: declarations emitted per source file import each other without extensions
 * (`from './plugin'`), which TypeScript's `node16` resolution cannot follow, and a CommonJS consumer
 * needs a `.d.cts` whose imports are CommonJS too. A single file that imports only
 * `@segment/analytics-next` works under every `moduleResolution`.
 *
 * How: TypeScript emits the declarations of src/ in memory; starting from src/index.ts, every module
 * reached by a relative import is inlined, its relative imports are dropped (the names are now in the
 * same file) and its `export` keywords are removed; the entry's own exports become one `export { … }`
 * list. Only the declarations the public names need are kept. Two inlined modules declaring the same
 * name, an import that renames, or a `export *` stop the build with an error rather than emit a wrong file.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import ts from 'typescript'

/** Declarations of every module of the program, by source path (without extension). */
function emitDeclarations(entry, tsconfigPath) {
  const config = ts.getParsedCommandLineOfConfigFile(tsconfigPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: fail })
  const options = {
    ...config.options,
    declaration: true,
    emitDeclarationOnly: true,
    noEmit: false,
    declarationMap: false,
    sourceMap: false,
    types: [],
    outDir: '/dts-out',
    rootDir: dirname(entry),
    declarationDir: undefined,
  }
  const program = ts.createProgram([entry], options)
  const diagnostics = ts.getPreEmitDiagnostics(program)
  if (diagnostics.length > 0) fail(ts.formatDiagnostics(diagnostics, diagnosticHost))
  const emitted = new Map()
  const result = program.emit(undefined, (fileName, text) => {
    const path = join(dirname(entry), relative('/dts-out', fileName)).replace(/\.d\.ts$/, '')
    emitted.set(path, text)
  })
  if (result.emitSkipped) fail(ts.formatDiagnostics(result.diagnostics, diagnosticHost))
  return emitted
}

const diagnosticHost = {
  getCanonicalFileName: (name) => name,
  getCurrentDirectory: () => process.cwd(),
  getNewLine: () => '\n',
}

function fail(message) {
  throw new Error('bundle-dts: ' + (typeof message == 'string' ? message : ts.flattenDiagnosticMessageText(message.messageText, '\n')))
}

const isRelative = (specifier) => specifier.startsWith('./') || specifier.startsWith('../')

/** The names a top-level statement declares. */
function declaredNames(statement) {
  if (ts.isVariableStatement(statement)) return statement.declarationList.declarations.map((d) => d.name.getText())
  if (statement.name) return [statement.name.getText()]
  return []
}

/** The identifiers a statement mentions (types it refers to, among other names). */
function mentionedNames(statement) {
  const names = new Set()
  const visit = (node) => {
    if (ts.isIdentifier(node)) names.add(node.text)
    ts.forEachChild(node, visit)
  }
  visit(statement)
  return names
}

/**
 * The statement's text without the `export` keyword, preceded by its own doc comment only (the last
 * doc comment right before it; a file's header comment attached to its first statement is left out).
 */
function withoutExport(statement, source) {
  const fullText = statement.getFullText(source)
  const fullStart = statement.getFullStart()
  const comments = ts.getLeadingCommentRanges(fullText, 0) ?? []
  const docComment = comments.filter((range) => fullText.startsWith('/**', range.pos)).at(-1)
  const modifiers = (statement.modifiers ?? []).filter(
    (m) => m.kind == ts.SyntaxKind.ExportKeyword || m.kind == ts.SyntaxKind.DefaultKeyword,
  )
  if (modifiers.some((m) => m.kind == ts.SyntaxKind.DefaultKeyword)) fail('a default export cannot be bundled')
  let code = fullText.slice(statement.getStart(source) - fullStart)
  // from the last modifier backwards, so earlier offsets stay valid
  for (const modifier of [...modifiers].reverse()) {
    const start = modifier.getStart(source) - statement.getStart(source)
    const end = modifier.getEnd() - statement.getStart(source)
    code = code.slice(0, start) + code.slice(end).replace(/^\s+/, '')
  }
  const doc = docComment ? fullText.slice(docComment.pos, docComment.end) + '\n' : ''
  return doc + code
}

/** The entry file's header comment (the first comment of the source file), or ''. */
function headerComment(path) {
  const text = ts.sys.readFile(path) ?? ''
  const first = (ts.getLeadingCommentRanges(text, 0) ?? [])[0]
  return first ? text.slice(first.pos, first.end) : ''
}

/**
 * The bundled declaration text for `entry` (a .ts path).
 * @param {string} entry
 * @param {string} tsconfigPath
 */
export function bundleDeclarations(entry, tsconfigPath) {
  const emitted = emitDeclarations(resolve(entry), resolve(tsconfigPath))
  const entryKey = resolve(entry).replace(/\.ts$/, '')
  /** declarations by name: { text, mentions } */
  const declarations = new Map()
  /** external imports, printed as they are (deduplicated) */
  const externalImports = new Set()
  /** the entry's public names: exported name -> { local, typeOnly } */
  const publicNames = new Map()
  const visited = new Set()

  const moduleKey = (from, specifier) => {
    const key = resolve(dirname(from), specifier).replace(/\.(js|ts)$/, '')
    if (emitted.has(key)) return key
    if (emitted.has(join(key, 'index'))) return join(key, 'index')
    fail(`cannot find the declarations of ${specifier} imported by ${relative(process.cwd(), from)}`)
  }

  const addModule = (key) => {
    if (visited.has(key)) return
    visited.add(key)
    const source = ts.createSourceFile(key + '.d.ts', emitted.get(key), ts.ScriptTarget.Latest, true)
    for (const statement of source.statements) {
      const specifier = statement.moduleSpecifier && statement.moduleSpecifier.text
      if (ts.isImportDeclaration(statement)) {
        if (!isRelative(specifier)) {
          externalImports.add(statement.getText(source))
          continue
        }
        const bindings = statement.importClause?.namedBindings
        if (statement.importClause?.name || (bindings && !ts.isNamedImports(bindings))) fail(`default or namespace import of ${specifier}`)
        for (const element of bindings?.elements ?? []) {
          if (element.propertyName && element.propertyName.text != element.name.text) fail(`renaming import in ${key}`)
        }
        addModule(moduleKey(key, specifier))
        continue
      }
      if (ts.isExportDeclaration(statement)) {
        if (!statement.exportClause) fail(`export * in ${key}`)
        if (specifier && isRelative(specifier)) addModule(moduleKey(key, specifier))
        else if (specifier) fail(`re-export from the external module ${specifier}`)
        if (key != entryKey) continue
        for (const element of statement.exportClause.elements) {
          const local = (element.propertyName ?? element.name).text
          publicNames.set(element.name.text, { local, typeOnly: statement.isTypeOnly || element.isTypeOnly })
        }
        continue
      }
      if (ts.isExportAssignment(statement)) fail(`export default / export = in ${key}`)
      const names = declaredNames(statement)
      if (names.length == 0) continue
      const exported = (statement.modifiers ?? []).some((m) => m.kind == ts.SyntaxKind.ExportKeyword)
      for (const name of names) {
        const existing = declarations.get(name)
        // interfaces and namespaces may merge within one module; across modules a name is ambiguous
        if (existing && existing.module != key) fail(`"${name}" is declared by both ${existing.module} and ${key}`)
        const entry = existing ?? { module: key, texts: [], mentions: new Set() }
        entry.texts.push(withoutExport(statement, source))
        for (const mentioned of mentionedNames(statement)) entry.mentions.add(mentioned)
        declarations.set(name, entry)
        if (exported && key == entryKey) publicNames.set(name, { local: name, typeOnly: false })
      }
    }
  }
  addModule(entryKey)

  // keep only what the public names need
  const needed = new Set()
  const queue = [...publicNames.values()].map((p) => p.local)
  while (queue.length > 0) {
    const name = queue.pop()
    if (needed.has(name) || !declarations.has(name)) continue
    needed.add(name)
    for (const mentioned of declarations.get(name).mentions) queue.push(mentioned)
  }
  for (const { local } of publicNames.values()) if (!declarations.has(local)) fail(`the public name ${local} has no declaration`)

  // in the order the modules declared them
  const kept = new Set([...declarations].filter(([name]) => needed.has(name)).map(([, declaration]) => declaration))
  const body = [...kept].flatMap((declaration) => [...new Set(declaration.texts)])
  const exportList = [...publicNames].map(([name, p]) => (p.typeOnly ? 'type ' : '') + (p.local == name ? name : `${p.local} as ${name}`))
  const header = headerComment(resolve(entry))
  return [header, ...externalImports, ...body.map((text) => '\n' + text), '', `export { ${exportList.join(', ')} }`, ''].join('\n')
}

/** Writes `dist/index.d.ts` and `dist/index.d.cts`. */
export function writeDeclarations({ entry = 'src/index.ts', tsconfig = 'tsconfig.json', outDir = 'dist' } = {}) {
  const text = bundleDeclarations(entry, tsconfig)
  mkdirSync(outDir, { recursive: true })
  for (const file of ['index.d.ts', 'index.d.cts']) writeFileSync(join(outDir, file), text)
}

// The reporting layer's public surface: results schema and validation, tables, checks, plots,
// and the report writer.
export * from './schema.js';
export { validateResults, parseResults, readResults, crossCheck } from './validate.js';
export { formatFixed, formatMean, formatSigned, standardError, populationStd, mean, type MeanCell } from './stats.js';
export { datasetTable, averagesTable, ensembleTable, tableMarkdown, tablesCsv, TABLE_CSV_HEADER, type ResultTable, type TableRow, type TableCell } from './table.js';
export { failedRuns, pairedDifferences, premiseCheck, midpointBarrier, type PairedSummary, type PremiseCheck, type DistanceSummary } from './checks.js';
export { plotAccuracyVsModels, plotInterpolation, plotDisagreement, plotDistances, renderPlots, type RenderedPlot } from './plots.js';
export { buildReport, reportMarkdown, reportCsv, runsCsv, RUNS_CSV_HEADER, type ReportData, type ReportOptions, type PlotLink, type DatasetReport } from './document.js';
export { writeReport, renderSummary, type ReportPaths } from './write.js';
export { parseCsv, toCsv } from './csv.js';
export { currentMachine } from './machine.js';

// sharpseek — the SharpSeek command line. Each area registers its commands from its own file in Commands/.
using System.CommandLine;
using SharpSeek.Cli;
using SharpSeek.Cli.Commands;

var root = new RootCommand("SharpSeek: DeepSeek-V3 training, inference, serving and planning in .NET.");
root.Subcommands.Add(ModelCommands.Create());
root.Subcommands.Add(InferenceCommands.CreateLogits());
root.Subcommands.Add(InferenceCommands.CreateGenerate());
root.Subcommands.Add(TokenizerCommands.CreateTokenize());
root.Subcommands.Add(TokenizerCommands.CreateTokenizer());
root.Subcommands.Add(PlanCommands.Create());
root.Subcommands.Add(TrainingCommands.CreateTrain());

// `sharpseek bench …`: each area adds its benchmarks here.
var bench = new Command("bench", "Measure this machine and SharpSeek's kernels, models and training.");
bench.Subcommands.Add(NumericsCommands.Create());
foreach (var c in GemmCommands.CreateBenchCommands()) bench.Subcommands.Add(c);
root.Subcommands.Add(bench);
bench.Subcommands.Add(InferenceCommands.CreateBenchDecode());
bench.Subcommands.Add(TokenizerCommands.CreateBench());
bench.Subcommands.Add(TrainingCommands.CreateBenchOptimizer());
bench.Subcommands.Add(TrainingCommands.CreateBenchTrain());
bench.Subcommands.Add(TrainingCommands.CreateBenchBalance());
bench.Subcommands.Add(BackwardCommands.CreateBenchModelBackward());
bench.Subcommands.Add(BackwardCommands.CreateBenchFfnBackward());
bench.Subcommands.Add(AttentionCommands.CreateBench());
return CliRunner.Run(root, args);

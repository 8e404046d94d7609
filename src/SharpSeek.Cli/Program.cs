// sharpseek — the SharpSeek command line. Each area registers its commands from its own file in Commands/.
using System.CommandLine;
using SharpSeek.Cli;
using SharpSeek.Cli.Commands;

var root = new RootCommand("SharpSeek: DeepSeek-V3 training, inference, serving and planning in .NET.");
root.Subcommands.Add(ModelCommands.Create());
return CliRunner.Run(root, args);

Console.Error.WriteLine("kds-bench: no benchmarks yet");
return 2;

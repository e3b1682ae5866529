"""dotnet analyzers."""

// Contract for the signing helper; implemented with the JWT verifier.
export {}

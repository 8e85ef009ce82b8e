/** A digest-pinned image, as RECC_EKS_IMAGE must be (the EKS manifest builder refuses tags such as latest and the local placeholder). */
export const TEST_EKS_IMAGE = `123456789012.dkr.ecr.us-east-1.amazonaws.com/recc@sha256:${'ab'.repeat(32)}`;
